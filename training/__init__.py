"""CheetahLion's engine: scan photo folders, fine-tune pretrained classifiers, predict.

Qt-free and usable on its own (the `cheetahlion-cli` command is built on it). The names
below are the public API; they load on first use, so `import training` stays instant and a
front end can show its window before torch has been imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "scan_dataset": "training.data.scanning",
    "split_dataset": "training.data.splitting",
    "Dataset": "training.records.dataset",
    "ImageRecord": "training.records.dataset",
    "Issue": "training.records.dataset",
    "HealthReport": "training.records.dataset",
    "Split": "training.records.dataset",
    "TrainConfig": "training.records.config",
    "fit": "training.fitting.trainer",
    "FitResult": "training.fitting.result",
    "FitSummary": "training.records.fit_summary",
    "compare_networks": "training.fitting.compare",
    "best_comparison": "training.records.comparison",
    "NetworkComparison": "training.records.comparison",
    "ComparisonStarted": "training.records.comparison",
    "evaluate": "training.predict.evaluation",
    "EvaluationReport": "training.records.evaluation",
    "zero_shot_baseline": "training.predict.baseline",
    "Baseline": "training.predict.baseline",
    "find_suspects": "training.insight.suspects",
    "Suspect": "training.records.suspects",
    "SuspectReport": "training.records.suspects",
    "dataset_map": "training.insight.dataset_map",
    "DatasetMap": "training.records.dataset_map",
    "Predictor": "training.predict.inference",
    "Prediction": "training.records.predictions",
    "Explainer": "training.insight.explain",
    "Explanation": "training.records.explanation",
    "explainer_for": "training.insight.explain",
    "NoveltyCalibration": "training.records.novelty_calibration",
    "TrainedModel": "training.fitting.modelfile",
    "load_model": "training.fitting.modelfile",
    "save_model": "training.fitting.modelfile",
    "read_metadata": "training.fitting.modelfile",
    "export_model": "training.predict.export",
    "ExportResult": "training.records.export_result",
    "EXPORT_FORMATS": "training.predict.export",
    "list_runs": "training.records.runs",
    "read_journal": "training.records.journal",
    "move_to_class": "training.insight.cleanup",
    "move_to_quarantine": "training.insight.cleanup",
    "undo_move": "training.insight.cleanup",
    "keep_images": "training.insight.cleanup",
    "add_to_class": "training.insight.adding",
    "class_name_problem": "training.insight.adding",
    "AlreadyInClass": "training.insight.adding",
    "forget_kept": "training.insight.cleanup",
    "CleanupError": "training.records.journal",
    "RunRecord": "training.records.runs",
    "BACKBONES": "training.records.backbones",
    "DEFAULT_BACKBONE": "training.records.backbones",
    "OFFLINE_BACKBONES": "training.records.backbones",
    "resolve_device": "training.core.runtime",
    "prepare_frozen_runtime": "training.models.frozen",
    "features_used": "training.models.frozen",
    "set_frozen_precision": "training.core.runtime",
    "CheetahLionError": "training.core.errors",
    "DatasetError": "training.core.errors",
    "ImageError": "training.core.errors",
    "ModelFileError": "training.core.errors",
    "ConfigError": "training.core.errors",
    "EightBitUnavailableError": "training.core.errors",
    "BackboneUnavailableError": "training.core.errors",
    "ExportError": "training.core.errors",
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

