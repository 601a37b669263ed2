"""The likely-mislabelled finder (`training.insight.suspects.find_suspects`) in the background."""

from __future__ import annotations

from dataclasses import dataclass

from cheetahlion_gui.jobs.runner import Job
from training.records.dataset import Dataset
from training.records.suspects import SuspectReport


@dataclass(frozen=True)
class SuspectsOutcome:
    """The finder's report (None when cancelled) and the content hashes marked "keep"."""

    report: SuspectReport | None
    kept: frozenset[str]
    features: str | None = None
    """What computed the features, as the engine says it ("onnxruntime int8", "stored
    float": `training.features_used`)."""


class FindSuspectsJob(Job):
    """Runs the finder; `progressed` carries its `FinderProgress` events, whose `fraction`
    (one run over both phases, never back) is what the view's bar shows."""

    def __init__(self, dataset: Dataset) -> None:
        super().__init__()
        self.dataset = dataset

    def work(self) -> SuspectsOutcome:
        from training import features_used
        from training.insight.suspects import find_suspects
        from training.records.events import Cancelled
        from training.records.journal import read_journal

        try:
            report = find_suspects(self.dataset, self.progressed.emit, self.cancel)
        except Cancelled:
            report = None
        return SuspectsOutcome(report, read_journal(self.dataset.root).kept_hashes,
                               features_used())
