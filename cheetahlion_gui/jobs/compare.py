"""Compare networks: a quick run per network, in this process like any quick run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cheetahlion_gui.jobs.runner import Job
from training.records.comparison import NetworkComparison
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.run_record import RunRecord


@dataclass(frozen=True)
class CompareOutcome:
    rows: list[NetworkComparison]
    runs: list[RunRecord]
    """The run history afterwards: every compared network's run is in it."""


class CompareJob(Job):
    """`compare_networks` on `dataset` with `config` (quick mode); its events, including a
    `NetworkComparison` as each network ends, go out through `progressed`."""

    def __init__(self, config: TrainConfig, dataset: Dataset, networks: Sequence[str]) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.networks = tuple(networks)

    def work(self) -> CompareOutcome:
        from training import compare_networks, list_runs

        rows = compare_networks(self.dataset, self.networks, self.config,
                                callback=self.progressed.emit, cancel=self.cancel)
        return CompareOutcome(rows, list_runs(self.dataset.root))
