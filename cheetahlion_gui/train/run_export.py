"""Export… in the run history: a run's model as ONNX, TorchScript or `torch.export` (.pt2).

The save dialog's file type chooses the format. The export itself, and the check that the
exported file predicts like the app, run in an `ExportJob` off the GUI thread; the result
(or the reason it was refused) is shown when it ends.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QWidget

from cheetahlion_gui.dialogs import show_message
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.export import ExportJob
from training.records.export_result import ExportResult

FILE_TYPES = {
    "onnx": "ONNX — onnxruntime, OpenCV, ML.NET … (*.onnx)",
    "torchscript": "TorchScript — LibTorch (C++), older PyTorch tools (*.pt)",
    "pt2": "PyTorch torch.export — current PyTorch (*.pt2)",
}
"""Export format → save-dialog file type; keys are training.predict.export.EXPORT_FORMATS."""
SAMPLE_IMAGES = 8


class RunExporter(QObject):
    """Asks where to export, runs the export in the background, reports the outcome."""

    status_changed = Signal(str)
    """One line about the running or last export, for the page to show."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.widget = parent
        self.jobs = JobController(parent)
        self.runner = self.jobs.runner
        self._exporting = Lifecycle(
            succeeded=self._exported, failed=self._failed, failure_title="Export failed",
            busy_message=("Export running", "A model is being exported; wait for it to finish."))
        self._folder = Path.home()

    def ask_and_export(self, model_path: str, suggested_name: str,
                       sample_images: list[Path]) -> None:
        """Show the save dialog, then export to the chosen file in the chosen format."""
        path, file_type = QFileDialog.getSaveFileName(
            self.widget, "Export model", str(self._folder / f"{suggested_name}.onnx"),
            ";;".join(FILE_TYPES.values()), FILE_TYPES["onnx"])
        if path:
            self.export(model_path, Path(path), format_for(path, file_type), sample_images)

    def export(self, model_path: str, target: Path, export_format: str,
               sample_images: list[Path]) -> bool:
        job = ExportJob(model_path, target, export_format, sample_images[:SAMPLE_IMAGES])
        if not self.jobs.start(job, self._exporting):
            return False
        self._folder = target.parent
        self.status_changed.emit(f"Exporting to {target.name} and checking that it predicts "
                                 "like the app…")
        return True

    @Slot(object)
    def _exported(self, result: ExportResult) -> None:
        self.status_changed.emit(f"Exported {result.path.name}.")
        show_message(
            self.widget, "Model exported",
            f"{result.path}\n\nChecked: it gives the app's probabilities to within "
            f"{result.max_abs_difference:.0e} on {result.inputs_checked} images. Class names "
            f"and preprocessing are in {result.sidecar.name} beside it; the README's "
            "\"Using a model elsewhere\" shows how to use it.")

    @Slot(str, str)
    def _failed(self, _message: str, _details: str) -> None:
        self.status_changed.emit("The export failed; nothing was written.")


def format_for(path: str, file_type: str) -> str:
    """The format a typed suffix names; else the chosen file type's; else ONNX."""
    by_suffix = {".onnx": "onnx", ".pt": "torchscript", ".pt2": "pt2"}
    if Path(path).suffix.lower() in by_suffix:
        return by_suffix[Path(path).suffix.lower()]
    return next((f for f, text in FILE_TYPES.items() if text == file_type), "onnx")
