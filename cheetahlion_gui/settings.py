"""User settings: a Qt-free dataclass stored as versioned JSON in the platformdirs config dir.

Only window geometry goes to QSettings (it is Qt's own data); everything else lives here so
it can be read by tests and by a person with a text editor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from training.core import paths
from training.core.atomic import write_atomically
from training.core.errors import ConfigError
from training.core.precision import PRECISIONS, frozen_precision

SETTINGS_VERSION = 1
MAX_RECENT = 8


def default_frozen_precision() -> str:
    """"float", or the `CHEETAHLION_PRECISION` set for every process of this user (an invalid
    value is left to the engine to report)."""
    try:
        return frozen_precision()
    except ConfigError:
        return "float"


@dataclass
class Settings:
    recent_datasets: list[str] = field(default_factory=list)
    recent_models: list[str] = field(default_factory=list)
    unsure_threshold: float = 0.7
    """Predictions below this confidence are marked "unsure" in the gallery."""
    unfamiliar_percentile: float = 95.0
    """Images stranger than this share of a model's validation photos are "none of these"."""
    quarantine_folders: dict[str, str] = field(default_factory=dict)
    """Per dataset folder, where "Move to quarantine" puts images taken out of it."""
    last_folder: str = ""
    """Where the last folder dialog was left: the parent of the folder chosen in it."""
    multilabel_folders: list[str] = field(default_factory=list)
    """Class-folder datasets the user scans as multi-label (a photo in several folders has
    each of their labels): the Data step's switch, remembered per folder."""
    frozen_precision: str = field(default_factory=default_frozen_precision)
    """How every frozen pass (gallery, finder, quick training) computes features: "float"
    (the default, most accurate), "auto" (8-bit where it classified as accurately as float
    and this computer measured it faster) or "int8" (the 8-bit graph wherever it runs).
    docs/benchmarks.md, "8-bit frozen graph (issue 26)"."""

    @staticmethod
    def file() -> Path:
        return paths.config_dir() / "settings.json"

    @classmethod
    def load(cls) -> Settings:
        """The saved settings, or defaults when there are none or they cannot be read."""
        try:
            data = json.loads(cls.file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        known = {f.name for f in fields(cls)}
        try:
            settings = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return cls()
        if settings.frozen_precision not in PRECISIONS:  # edited by hand, or newer
            settings.frozen_precision = default_frozen_precision()
        return settings

    def save(self) -> None:
        target = self.file()
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": SETTINGS_VERSION, **asdict(self)}, indent=1)
        # Saved from the GUI thread: skip the fsync, whose latency would freeze the window.
        write_atomically(target, text.encode("utf-8"), durable=False)

    def remember_dataset(self, folder: str | Path) -> None:
        self.recent_datasets = _push(self.recent_datasets, str(folder))

    def remember_folder(self, chosen: str | Path) -> None:
        """A folder was chosen in a dialog: the next one opens beside it."""
        self.last_folder = str(Path(chosen).parent)

    def remember_model(self, model: str | Path) -> None:
        self.recent_models = _push(self.recent_models, str(model))

    def scans_as_multilabel(self, dataset: str | Path) -> bool:
        return str(dataset) in self.multilabel_folders

    def remember_multilabel(self, dataset: str | Path, multilabel: bool) -> None:
        others = [folder for folder in self.multilabel_folders if folder != str(dataset)]
        self.multilabel_folders = [*others, str(dataset)] if multilabel else others

    def quarantine_folder(self, dataset: str | Path) -> str | None:
        return self.quarantine_folders.get(str(dataset))

    def remember_quarantine_folder(self, dataset: str | Path, folder: str | Path) -> None:
        self.quarantine_folders = {**self.quarantine_folders, str(dataset): str(folder)}


def _push(items: list[str], item: str) -> list[str]:
    return [item, *[i for i in items if i != item]][:MAX_RECENT]
