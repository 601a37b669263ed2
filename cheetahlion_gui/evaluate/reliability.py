"""The Evaluate step's calibration panel: does "90 %" mean right 9 times in 10?

A reliability diagram of the evaluated images (bars: the share right in each of 15
confidence bins; the diagonal: where a calibrated model's bars end) with its expected
calibration error (ECE), and beside it what the model file says: the temperature training
fitted on validation and the validation ECE before and after (`training.records.calibration`).
Plain numbers from the report; nothing here runs the model.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QBoxLayout,
    QGraphicsItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from training.records import calibration as rules
from training.records.calibration import ModelCalibration, Reliability
from training.records.evaluation import EvaluationReport
from training.records.multilabel import MultiLabelReport

PLOT_WIDTH, PLOT_HEIGHT = 200, 108
"""The diagram's least size: 15 bars and both axes' labels readable, and low enough that
the score tables above keep their rows at 1280 × 800 (the page gives the photos the rest)."""
PANEL_WIDTH = 340
"""At most: the images beside it keep two tiles' width at 1280 × 800 (and 340 rather than
280 keeps its text to four lines there, so the score tables above keep their headers)."""
TICKS = [[(v / 5, f"{v / 5:g}") for v in range(6)]]
BAR_COLOUR = "#1f77b4"
GAP_COLOUR = "#d62728"


def _part(part: str) -> str:
    return "validation" if part == "val" else part


class ReliabilityPanel(QGroupBox):
    """The reliability diagram and the ECE before and after calibration, for one report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Calibration: is the confidence right?", parent)
        self.setToolTip(
            "Each bar is one range of confidence: its height is the share of those photos "
            "the model got right. A calibrated model's bars reach the diagonal, so a "
            "photo it is 90 % sure of has a 10 % chance of being wrong; a red dot is the "
            "bar's mean confidence, where its top would be, and the paler a bar, the fewer "
            "photos it holds. ECE: the mean gap, weighted by the photos in each bar (0 is "
            "perfect).")
        pg.setConfigOptions(antialias=True, background="w", foreground="#333")
        self.plot = pg.PlotWidget()  # the group box titles it
        self.plot.setMinimumSize(PLOT_WIDTH, PLOT_HEIGHT)
        item = self.plot.getPlotItem()
        self.plot.setLabel("bottom", "confidence")
        self.plot.setLabel("left", "share right")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        for axis in item.axes.values():
            axis["item"].enableAutoSIPrefix(False)
            axis["item"].setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTicks(TICKS)
            self.plot.getAxis(side).setStyle(hideOverlappingLabels=False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        self.diagonal = self.plot.plot([0, 1], [0, 1], name="calibrated",
                                       pen=pg.mkPen("#555", width=1.5,
                                                    style=Qt.PenStyle.DashLine))
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.0, brush=BAR_COLOUR)
        self.plot.addItem(self.bars)
        self.points = self.plot.plot([], [], pen=None, symbol="o", symbolSize=5,
                                     symbolBrush=GAP_COLOUR, name="mean confidence")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.summary)
        self.setMaximumWidth(PANEL_WIDTH)
        self.setVisible(False)  # until a report is shown
        self.page: Any = None

    @classmethod
    def placed(cls, layout: QBoxLayout, images: QWidget, page: Any) -> ReliabilityPanel:
        """A panel put in `layout` in a row with `images` (stretching: a grid of tiles
        reflows) on its left, where the score tables and the images' title keep the page's
        whole width. It follows `page` (the Evaluate page: its `evaluation_finished`, and
        the single-label `report` it shows while `score_panels` shows `scores`), so the
        page needs no other line for it."""
        panel = cls()
        panel.page = page
        row = QHBoxLayout()
        row.addWidget(images, 1)
        row.addWidget(panel)
        layout.addLayout(row)
        page.evaluation_finished.connect(panel.follow_page)
        return panel

    @Slot()
    def follow_page(self) -> None:
        """The page's report shown: its calibration (a multi-label one's pooled over its
        labels), or nothing."""
        page = self.page
        single = page.score_panels.currentWidget() is page.scores
        if single and page.report is not None:
            self.show_report(page.report)
        elif not single and page.multilabel_report is not None:
            self.show_multilabel(page.multilabel_report)
        else:
            self.setVisible(False)

    def show_multilabel(self, report: MultiLabelReport) -> None:
        """Every label's probability on the evaluated photos, pooled: the bars are the
        share of photos that have the label, and the ECE before and after the temperatures
        (`training.records.multilabel_calibration`)."""
        measured = report.reliability()
        if not measured.images:
            self.setVisible(False)
            return
        self._axes("probability of a label", "share with the label")
        self._draw(measured)
        self.summary.setText(multilabel_text(report))
        self.setVisible(True)

    def _axes(self, bottom: str, left: str) -> None:
        self.plot.setLabel("bottom", bottom)
        self.plot.setLabel("left", left)

    def show_report(self, report: EvaluationReport) -> None:
        """The report's bins and ECE, and the model file's figures."""
        measured = report.reliability
        if measured is None:
            self.setVisible(False)
            return
        self._axes("confidence", "share right")
        self._draw(measured)
        self.summary.setText(summary_text(measured, report.part, report.calibration))
        self.setVisible(True)

    def _draw(self, measured: Reliability) -> None:
        shown = [b for b in measured.bins if b.count]
        width = (measured.bins[0].upper - measured.bins[0].lower) if measured.bins else 0.0
        most = max((b.count for b in shown), default=1)
        # a bar of one photo says little: paler the fewer photos it holds
        brushes = [_shade(0.25 + 0.75 * b.count / most) for b in shown]
        self.bars.setOpts(x=[(b.lower + b.upper) / 2 for b in shown],
                          height=[b.accuracy for b in shown], width=width * 0.9,
                          brushes=brushes)
        # where each bar should end if calibrated: its photos' mean confidence
        self.points.setData([b.confidence for b in shown], [b.accuracy for b in shown])
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)


def _shade(opacity: float) -> QColor:
    colour = QColor(BAR_COLOUR)
    colour.setAlphaF(opacity)
    return colour


def summary_text(measured: Reliability, part: str, stored: ModelCalibration | None) -> str:
    """The ECE on the evaluated photos, what chance alone gives there, and what training
    measured on validation."""
    head = f"ECE <b>{measured.ece:.3f}</b> on these {measured.images} {_part(part)} photos"
    if stored is None:
        told = "This model was trained before calibration: its confidences are as trained."
    elif not stored.measured:
        told = f"Not calibrated when trained ({_how(stored)})."
    else:
        told = (f"When trained, on validation: ECE {stored.ece_before:.3f} before calibration, "
                f"{stored.ece_after:.3f} after (temperature {stored.temperature:.2f}, "
                f"{_how(stored)}).")
    return f"{head}<br><small>{_sentence(measured.chance_words('photos'))} {told}</small>"


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:] + "."


def _how(stored: ModelCalibration) -> str:
    """How the temperature was chosen, in a few words."""
    return {rules.FITTED: "fitted",
            rules.CALIBRATED: "already calibrated",
            rules.NO_MISTAKES: f"no mistakes among {stored.images}: set to "
                               f"{(stored.images + 1) / (stored.images + 2):.1%} sure on average",
            rules.TOO_FEW: f"only {stored.images} photos: left as trained",
            rules.NOT_NUMBERS: "left as trained",
            rules.STOPPED: "stopped early: left as trained",
            rules.UNREADABLE: "left as trained"}[stored.rule]


def multilabel_text(report: MultiLabelReport) -> str:
    """The pooled ECE on the evaluated photos (and before the temperatures), what chance
    alone gives there, and what training measured on validation."""
    after = report.reliability()
    head = (f"ECE <b>{after.ece:.3f}</b> on these {len(report.outcomes)} "
            f"{_part(report.part)} photos, every label pooled")
    stored = report.calibration
    chance = _sentence(after.chance_words("probabilities"))
    if stored is None:
        return (f"{head}<br><small>{chance} This model was trained before calibration: its "
                "probabilities are as trained.</small>")
    before = report.reliability(calibrated=False).ece
    kept = [label.name for label in stored.labels if not label.measured]
    few = (f"; {', '.join(kept)}: too few photos with or without it, left as trained"
           if kept else "")
    return (f"{head} ({before:.3f} before calibration)<br><small>{chance} When trained, on "
            f"validation: {stored.ece_before:.3f} before, {stored.ece_after:.3f} after a "
            f"temperature per label{few}.</small>")
