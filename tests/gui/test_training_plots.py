"""The live curves redraw when a number arrives, and not otherwise.

Why it matters: each redraw repaints both antialiased plots; redrawing ten times a second with
nothing new took a fifth of a core from a fine-tune running beside the window.
"""

from __future__ import annotations

from cheetahlion_gui.plots import REDRAW_MS, TrainingHistory, TrainingPlots

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
