"""Live training curves with pyqtgraph: loss (per step, smoothed, and per epoch) and accuracy.

Events only append numbers to `TrainingHistory`; a ~100 ms timer redraws the curves from it
(with `setData`, peak downsampling and clip-to-view), so a burst of thousands of step
events costs a handful of redraws, not thousands. The timer redraws only when a number
arrived since the last redraw: a redraw repaints both antialiased plots, ~20 ms of CPU
offscreen, and at 10 a second with nothing new it took a fifth of a core from the training
process during a fine-tune (docs/benchmarks.md). The axes, whose grid lines span the plot,
are drawn from a pixmap cache that is redrawn only when an axis changes: replaying their
lines at every repaint was half of what remained (0.062 → 0.037 CPU s per second while
steps arrived every 0.7 s). Earlier runs can be overlaid, dimmed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from training.records.run_record import RunRecord

REDRAW_MS = 100
LEGEND_ROW = 4
"""The plot item's layout row under the bottom axis (0 title, 1 top axis, 2 view, 3 bottom)."""
ACCURACY_TOP = 1.02
"""A little above 1, so a point at accuracy 1 shows whole."""
SMOOTHING = 0.9
OVERLAY_COLOURS = ("#9e9e9e", "#b0a0d0", "#a0c0a0", "#d0b090", "#90b0d0")


@dataclass
class TrainingHistory:
    """Plain numbers collected from engine events, in the order they happened."""

    steps: list[int] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    steps_per_epoch: int = 1
    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    baseline: float | None = None

    def add_step(self, step: int, loss: float) -> None:
        previous = self.smoothed[-1] if self.smoothed else loss
        self.steps.append(step)
        self.step_losses.append(loss)
        self.smoothed.append(SMOOTHING * previous + (1 - SMOOTHING) * loss)

    def add_epoch(self, epoch: int, train_loss: float, val_loss: float, train_accuracy: float,
                  val_accuracy: float) -> None:
        self.epochs.append(epoch)
        self.train_loss.append(train_loss)
        self.val_loss.append(val_loss)
        self.train_accuracy.append(train_accuracy)
        self.val_accuracy.append(val_accuracy)

    @classmethod
    def from_record(cls, record: RunRecord) -> TrainingHistory:
        """Rebuild the curves of a recorded run."""
        history = cls()
        for step, loss in enumerate(record.step_losses, start=1):
            history.add_step(step, loss)
        epochs = record.epochs
        if epochs and history.steps:
            history.steps_per_epoch = max(1, len(history.steps) // max(len(epochs), 1))
        for epoch in epochs:
            history.add_epoch(epoch["epoch"], epoch["train_loss"], epoch["val_loss"],
                              epoch["train_accuracy"], epoch["val_accuracy"])
        history.baseline = record.baseline_accuracy
        return history


def _last_x(item: pg.PlotDataItem) -> float:
    xs = item.getData()[0]
    return float(xs.max()) if xs is not None and len(xs) else 0.0


def _pen(colour: str, width: float = 2, dashed: bool = False) -> object:
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    return pg.mkPen(colour, width=width, style=style)


def _plot(title: str, y_label: str, legend_columns: int) -> pg.PlotWidget:
    """A plot over epochs with its legend in a row of its own under the x axis, where no
    curve can run under it, and plain numbers on the axes (no "(x0.001)" SI scaling)."""
    plot = pg.PlotWidget(title=title)
    item = plot.getPlotItem()
    plot.setLabel("bottom", "epoch")
    plot.setLabel("left", y_label)
    plot.showGrid(x=True, y=True, alpha=0.2)
    item.setDownsampling(mode="peak")
    item.setClipToView(True)
    item.legend = pg.LegendItem(colCount=legend_columns, horSpacing=12)
    item.layout.addItem(item.legend, LEGEND_ROW, 1)
    for axis in item.axes.values():
        axis["item"].enableAutoSIPrefix(False)
        axis["item"].setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return plot


class TrainingPlots(QWidget):
    """Two plots side by side; call `start_redrawing()` while a run is live."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True, background="w", foreground="#333")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = _plot("Loss", "loss", legend_columns=4)
        self.accuracy_plot = _plot("Validation accuracy", "accuracy", legend_columns=3)
        self.loss_plot.setLimits(xMin=0, yMin=0)
        self.accuracy_plot.setLimits(xMin=0, yMin=0, yMax=ACCURACY_TOP)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.accuracy_plot)
        self.step_curve = self.loss_plot.plot(pen=_pen("#c8d8ec", 1), name="step")
        self.smooth_curve = self.loss_plot.plot(pen=_pen("#1f77b4", 2), name="step (smoothed)")
        self.train_curve = self.loss_plot.plot(pen=_pen("#1f77b4", 2), symbol="o", symbolSize=5,
                                               symbolBrush="#1f77b4", name="train (epoch)")
        self.val_curve = self.loss_plot.plot(pen=_pen("#d62728", 2), symbol="o", symbolSize=5,
                                             symbolBrush="#d62728", name="validation (epoch)")
        self.accuracy_curve = self.accuracy_plot.plot(
            pen=_pen("#2ca02c", 2), symbol="o", symbolSize=6, symbolBrush="#2ca02c",
            name="validation")
        self.baseline_line = pg.InfiniteLine(
            angle=0, movable=False, pen=_pen("#555", 1.5, dashed=True),
            label="zero-shot baseline",
            labelOpts={"position": 0.1, "color": "#555", "anchors": [(0, 0), (0, 0)]})
        self.baseline_line.setVisible(False)
        self.accuracy_plot.addItem(self.baseline_line)
        self.history = TrainingHistory()
        self._overlays: list[tuple[pg.PlotWidget, pg.PlotDataItem]] = []
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw_if_changed)
        self._drawn: tuple[object, ...] | None = None
        """`_shown()` as of the last redraw."""
        self.redraw_count = 0
        """How many times the curves were redrawn (for tests)."""

    def show_history(self, history: TrainingHistory) -> None:
        self.history = history
        self.redraw()

    def start_redrawing(self) -> None:
        self._timer.start()

    def stop_redrawing(self) -> None:
        self._timer.stop()
        self.redraw()

    @property
    def redrawing(self) -> bool:
        return self._timer.isActive()

    def _shown(self) -> tuple[object, ...]:
        """What the curves show, in a few numbers: unchanged as long as no event added one
        (events only append, or set the baseline)."""
        history = self.history
        return (id(history), len(history.steps), len(history.epochs), history.baseline,
                history.steps_per_epoch)

    @Slot()
    def _redraw_if_changed(self) -> None:
        if self._shown() != self._drawn:
            self.redraw()

    def redraw(self) -> None:
        self.redraw_count += 1
        self._drawn = self._shown()
        history = self.history
        per_epoch = max(history.steps_per_epoch, 1)
        x = [step / per_epoch for step in history.steps]
        self.step_curve.setData(x, history.step_losses)
        self.smooth_curve.setData(x, history.smoothed)
        self.train_curve.setData(history.epochs, history.train_loss)
        self.val_curve.setData(history.epochs, history.val_loss)
        self.accuracy_curve.setData(history.epochs, history.val_accuracy)
        # visible first: the label ignores a new text while hidden (pyqtgraph)
        self.baseline_line.setVisible(history.baseline is not None)
        if history.baseline is not None:
            self.baseline_line.setValue(history.baseline)
            self.baseline_line.label.setFormat(f"zero-shot baseline {history.baseline:.3f}")
        self._fit_ranges()

    def _fit_ranges(self) -> None:
        """Both plots from epoch 0 to the last point shown (at least one epoch), however the
        previous run's were; loss from 0 up, accuracy within [0, 1] and zoomed to its points
        and the baseline: a new run never inherits the last one's view."""
        history = self.history
        x_last = max([1.0, *history.epochs, *(step / max(history.steps_per_epoch, 1)
                                                for step in history.steps[-1:])]
                     + [_last_x(item) for _plot, item in self._overlays])
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setXRange(0, x_last, padding=0.02)
        losses = [*history.step_losses, *history.train_loss, *history.val_loss]
        self.loss_plot.setYRange(0, max(losses, default=1.0) * 1.05 or 1.0, padding=0)
        accuracies = [*history.val_accuracy,
                      *([history.baseline] if history.baseline is not None else [])]
        lowest = min(accuracies, default=0.0)
        bottom = max(0.0, math.floor((lowest - 0.05) * 10) / 10)
        self.accuracy_plot.setYRange(bottom, ACCURACY_TOP, padding=0)

    def set_overlays(self, runs: list[tuple[str, TrainingHistory]]) -> None:
        """Draw earlier runs' epoch curves, dimmed, under the current one."""
        for plot, item in self._overlays:
            plot.removeItem(item)
        self._overlays = []
        for number, (name, history) in enumerate(runs):
            colour = OVERLAY_COLOURS[number % len(OVERLAY_COLOURS)]
            loss = pg.PlotDataItem(history.epochs, history.val_loss,
                                   pen=_pen(colour, 1.5, dashed=True), name=f"{name} (val)")
            accuracy = pg.PlotDataItem(history.epochs, history.val_accuracy,
                                       pen=_pen(colour, 1.5, dashed=True), name=name)
            self.loss_plot.addItem(loss)
            self.accuracy_plot.addItem(accuracy)
            self._overlays += [(self.loss_plot, loss), (self.accuracy_plot, accuracy)]
        self._fit_ranges()

    def curve_point_counts(self) -> dict[str, int]:
        """How many points each live curve shows (what a user sees; used by tests)."""
        def count(curve: object) -> int:
            data = curve.getData()[0]  # type: ignore[attr-defined]
            return 0 if data is None else len(data)

        return {"steps": count(self.step_curve), "val_loss": count(self.val_curve),
                "val_accuracy": count(self.accuracy_curve)}
