"""The layout audit's checks of pyqtgraph plots: the range holds the data, no negative epochs,
no automatic SI scale on an axis label, no legend over the data (see layout_audit)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QWidget


def plot_items(widgets: Iterator[QWidget]) -> Iterator[object]:
    """The PlotItems of the PlotWidgets among `widgets`."""
    for widget in widgets:
        if isinstance(widget, pg.PlotWidget):
            yield widget.getPlotItem()


def _finite(values: object) -> list[float]:
    if values is None:
        return []
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def check_plot(plot: object) -> list[str]:
    """A PlotItem: range around the data, no negative epochs, no SI scale, no legend on data."""
    title = plot.titleLabel.text or "plot"
    view_box = plot.getViewBox()
    if getattr(view_box, "_autoRangeNeedsUpdate", False):
        view_box.updateAutoRange()  # what the next paint does with new data (prepareForPaint)
    (x0, x1), (y0, y1) = plot.viewRange()
    tolerance_x, tolerance_y = (x1 - x0) * 1e-3, (y1 - y0) * 1e-3
    problems = []
    points: list[tuple[float, float]] = []
    for item in plot.listDataItems():
        if not item.isVisible():
            continue
        xs, ys = item.getData()
        xs, ys = _finite(xs), _finite(ys)
        if not xs or not ys:
            continue
        points += list(zip(xs, ys, strict=False))
        name = item.name() or "curve"
        if min(xs) < x0 - tolerance_x or max(xs) > x1 + tolerance_x:
            problems.append(f"plot '{title}': x range {x0:.3g}..{x1:.3g} does not hold "
                            f"'{name}' (x {min(xs):.3g}..{max(xs):.3g})")
        if min(ys) < y0 - tolerance_y or max(ys) > y1 + tolerance_y:
            problems.append(f"plot '{title}': y range {y0:.3g}..{y1:.3g} does not hold "
                            f"'{name}' (y {min(ys):.3g}..{max(ys):.3g})")
    for item in view_box.addedItems:
        if isinstance(item, pg.InfiniteLine) and item.isVisible():
            low, high = (y0, y1) if item.angle % 180 == 0 else (x0, x1)
            if not low <= item.value() <= high:
                problems.append(f"plot '{title}': line at {item.value():.3g} is outside the "
                                f"range {low:.3g}..{high:.3g}")
    problems += _check_axes(plot, title, (x0, x1))
    problems += _check_legend(plot, title, points)
    return problems


def _check_axes(plot: object, title: str, x_range: tuple[float, float]) -> list[str]:
    problems = []
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        label = axis.labelString()
        if "(x" in label or "×10" in label:
            problems.append(f"plot '{title}': {side} axis label '{_plain(label)}' carries an "
                            "automatic SI scale")
    bottom = plot.getAxis("bottom")
    if "epoch" in _plain(bottom.labelString()).lower():
        low, high = x_range
        levels = bottom.tickValues(low, high, bottom.width() or 1)
        labelled = [v for v in (levels[0][1] if levels else ()) if low <= v <= high]
        if any(v < 0 for v in labelled):  # minor levels are grid lines, mostly unlabelled
            problems.append(f"plot '{title}': the epoch axis shows negative epochs "
                            f"(range {low:.3g}..{high:.3g})")
    return problems


def _check_legend(plot: object, title: str, points: list[tuple[float, float]]) -> list[str]:
    legend = plot.legend
    if legend is None or not legend.isVisible() or not legend.items or not points:
        return []
    box: QRectF = plot.getViewBox().mapSceneToView(legend.sceneBoundingRect()).boundingRect()
    covered = [(x, y) for x, y in points if box.contains(x, y)]
    if covered:
        x, y = covered[0]
        return [f"plot '{title}': the legend covers {len(covered)} data point(s), e.g. "
                f"({x:.3g}, {y:.3g})"]
    return []


def _plain(html: str) -> str:
    """An axis label's text without its HTML."""
    out, inside = [], False
    for char in html:
        if char == "<":
            inside = True
        elif char == ">":
            inside = False
        elif not inside:
            out.append(char)
    return "".join(out).replace("&nbsp;", " ")
