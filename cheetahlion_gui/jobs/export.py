"""Exporting a model file to ONNX, TorchScript or `torch.export`, checked against the app."""

from __future__ import annotations

from pathlib import Path

from cheetahlion_gui.jobs.runner import Job
from training.records.export_result import ExportResult


class ExportJob(Job):
    """Export a model file and check it against the app (training.predict.export)."""

    def __init__(self, model_path: str, target: Path, export_format: str,
                 sample_images: list[Path]) -> None:
        super().__init__()
        self.model_path = model_path
        self.target = target
        self.export_format = export_format
        self.sample_images = sample_images

    def work(self) -> ExportResult:
        from training import export_model

        return export_model(self.model_path, self.target, self.export_format, self.sample_images)
