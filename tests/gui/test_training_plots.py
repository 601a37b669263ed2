"""The live curves redraw when a number arrives, and not otherwise.

Why it matters: each redraw repaints both antialiased plots; redrawing ten times a second with
nothing new took a fifth of a core from a fine-tune running beside the window.
"""

from __future__ import annotations

from cheetahlion_gui.train.plots import REDRAW_MS, TrainingHistory, TrainingPlots

SEVERAL_TICKS_MS = 6 * REDRAW_MS


def _live_plots(qtbot) -> TrainingPlots:
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    history = TrainingHistory(steps_per_epoch=4)
    history.add_step(1, 0.9)
    plots.show_history(history)
    plots.start_redrawing()
    return plots


def test_axes_and_their_grid_are_repainted_from_a_cache(qtbot) -> None:
    from PySide6.QtWidgets import QGraphicsItem

    plots = _live_plots(qtbot)
    for plot in (plots.loss_plot, plots.accuracy_plot):
        for axis in plot.getPlotItem().axes.values():
            assert axis["item"].cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache
    plots.stop_redrawing()


def test_nothing_new_means_no_redraw(qtbot) -> None:
    plots = _live_plots(qtbot)
    drawn = plots.redraw_count
    qtbot.wait(SEVERAL_TICKS_MS)
    assert plots.redrawing and plots.redraw_count == drawn
    plots.stop_redrawing()


def test_a_new_step_epoch_or_baseline_is_drawn_at_the_next_tick(qtbot) -> None:
    plots = _live_plots(qtbot)
    history = plots.history

    history.add_step(2, 0.8)
    qtbot.waitUntil(lambda: plots.curve_point_counts()["steps"] == 2)
    history.add_epoch(1, 0.8, 0.7, 0.6, 0.65)
    qtbot.waitUntil(lambda: plots.curve_point_counts()["val_accuracy"] == 1)
    history.baseline = 0.5
    qtbot.waitUntil(plots.baseline_line.isVisible)
    assert plots.baseline_line.label.textItem.toPlainText() == "zero-shot baseline 0.500"
    drawn = plots.redraw_count
    qtbot.wait(SEVERAL_TICKS_MS)
    assert plots.redraw_count == drawn, "each change is drawn once"
    plots.stop_redrawing()


def _shown(qtbot, history: TrainingHistory, plots: TrainingPlots | None = None) -> TrainingPlots:
    if plots is None:
        plots = TrainingPlots()
        qtbot.addWidget(plots)
        plots.resize(700, 460)
        plots.show()
        qtbot.waitExposed(plots)
    plots.show_history(history)
    qtbot.wait(50)
    return plots


def _ranges(plot) -> tuple[list[float], list[float]]:
    return plot.getViewBox().viewRange()


def test_the_first_epoch_reads_in_plain_epochs_from_zero(qtbot) -> None:
    """Issue 20: during the first epoch the loss axis read "epoch (x0.001)" with ticks
    100-600, and the accuracy axis showed negative epochs."""
    history = TrainingHistory(steps_per_epoch=76)
    for step in range(1, 45):
        history.add_step(step, 1.5 - step / 100)
    plots = _shown(qtbot, history)
    for plot in (plots.loss_plot, plots.accuracy_plot):
        for axis in ("bottom", "left"):
            assert "(x" not in plot.getAxis(axis).labelString(), axis
        (x_low, x_high), _ = _ranges(plot)
        assert -0.05 <= x_low <= 0 and 0.55 < x_high <= 1.1, (x_low, x_high)


def test_a_new_run_does_not_keep_the_last_ones_view(qtbot) -> None:
    """Issue 20: the accuracy axis kept the previous run's range (0-30 epochs), then showed
    -4..6 epochs, and 0.6-1.4 in accuracy on resume."""
    long_run = TrainingHistory(steps_per_epoch=2)
    for epoch in range(1, 31):
        long_run.add_step(2 * epoch, 0.5)
        long_run.add_epoch(epoch, 0.5, 0.4, 0.8, 0.7)
    plots = _shown(qtbot, long_run)
    new_run = TrainingHistory(steps_per_epoch=2, baseline=0.93)
    new_run.add_step(2, 0.3)
    new_run.add_epoch(1, 0.3, 0.2, 0.95, 1.0)
    _shown(qtbot, new_run, plots)
    (x_low, x_high), (y_low, y_high) = _ranges(plots.accuracy_plot)
    assert -0.05 <= x_low <= 0 and 1 <= x_high <= 1.1, (x_low, x_high)
    assert 0 <= y_low <= 0.93 and 1.0 <= y_high <= 1.05, (y_low, y_high)


def test_legends_sit_outside_the_curves(qtbot) -> None:
    """Issue 20: the legends covered the curves."""
    history = TrainingHistory(steps_per_epoch=2, baseline=0.9)
    for epoch in range(1, 4):
        history.add_step(2 * epoch, 1.0 / epoch)
        history.add_epoch(epoch, 1.0 / epoch, 1.1 / epoch, 0.9, 0.95)
    plots = _shown(qtbot, history)
    for plot in (plots.loss_plot, plots.accuracy_plot):
        item = plot.getPlotItem()
        legend = item.legend.sceneBoundingRect()
        assert legend.width() > 0 and legend.height() > 0
        assert not legend.intersects(item.getViewBox().sceneBoundingRect())
