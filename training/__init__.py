"""CheetahLion's engine: scan photo folders, fine-tune pretrained classifiers, predict.

Qt-free and usable on its own (the `cheetahlion-cli` command is built on it). The names
below are the public API; they load on first use, so `import training` stays instant and a
front end can show its window before torch has been imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "scan_dataset": "training.scanning",
    "split_dataset": "training.splitting",
    "Dataset": "training.dataset",
    "ImageRecord": "training.dataset",
    "Issue": "training.dataset",
    "HealthReport": "training.dataset",
    "Split": "training.dataset",
    "TrainConfig": "training.config",
    "fit": "training.trainer",
    "FitResult": "training.trainer",
    "evaluate": "training.evaluation",
    "EvaluationReport": "training.evaluation",
    "zero_shot_baseline": "training.baseline",
    "Baseline": "training.baseline",
    "find_suspects": "training.suspects",
    "Suspect": "training.suspects",
    "SuspectReport": "training.suspects",
    "Predictor": "training.inference",
    "Prediction": "training.inference",
    "Explainer": "training.explain",
    "Explanation": "training.explain",
    "explainer_for": "training.explain",
    "NoveltyCalibration": "training.novelty_calibration",
    "TrainedModel": "training.modelfile",
    "load_model": "training.modelfile",
    "save_model": "training.modelfile",
    "read_metadata": "training.modelfile",
    "export_model": "training.export",
    "ExportResult": "training.export",
    "EXPORT_FORMATS": "training.export",
    "list_runs": "training.runs",
    "read_journal": "training.cleanup",
    "move_to_class": "training.cleanup",
    "move_to_quarantine": "training.cleanup",
    "undo_move": "training.cleanup",
    "keep_images": "training.cleanup",
    "forget_kept": "training.cleanup",
    "CleanupError": "training.cleanup",
    "RunRecord": "training.runs",
    "BACKBONES": "training.backbones",
    "DEFAULT_BACKBONE": "training.backbones",
    "resolve_device": "training.runtime",
    "CheetahLionError": "training.errors",
    "DatasetError": "training.errors",
    "ImageError": "training.errors",
    "ModelFileError": "training.errors",
    "ConfigError": "training.errors",
    "BackboneUnavailableError": "training.errors",
    "ExportError": "training.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'training' has no attribute '{name}'")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

