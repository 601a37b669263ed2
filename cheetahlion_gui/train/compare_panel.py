"""The Train step's "Compare networks" panel: one row per network as each quick run ends.

The page runs the comparison (jobs.compare) and feeds its events here: a line and a bar say
which network is being tried and how far it is; each finished network adds its row (accuracy,
loss, time, speed, size). The best row is selected when the comparison ends, and "Use this
network" hands the selected row back to the page, which sets the form's network and makes
that run's model the current one: it is a real run, so nothing trains again.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.train.progress import format_duration
from cheetahlion_gui.widgets.table_model import RecordsTableModel
from training.records.comparison import ComparisonStarted, NetworkComparison, best_comparison
from training.records.events import PhaseProgress, StepEnded

Index = QModelIndex | QPersistentModelIndex
PHASES = {"features": "computing features", "train": "training the head",
          "speed": "timing every network's features"}
BAR_SHARES = {"features": (0, 70), "train": (70, 25), "speed": (95, 5)}
"""Each phase's (start, width) in a network's 100 steps of the bar: features take longest."""


class ComparisonModel(RecordsTableModel[NetworkComparison]):
    """One row per compared network; a failed one shows its error across the row."""

    HEADERS = ("Network", "Val. accuracy", "Bal. acc.", "Val. loss", "Baseline", "Time",
               "Images/s", "Model size", "Note")
    HEADER_TIPS = (
        "The pretrained network (hover a row for its run and model file)",
        "Validation accuracy of the quick head's best epoch",
        "Balanced accuracy: the mean of the classes' validation recalls, which a rare "
        "class cannot hide in",
        "Validation loss of the best epoch (lower is better; it breaks accuracy ties)",
        "The untouched ImageNet model's accuracy, when the class names are ImageNet's",
        "How long the run took; photos whose features were already stored are not "
        "computed again",
        "Frozen features per second on this machine, as classifying a gallery runs them "
        "(decoding excluded)",
        "The model file's size on disk",
        "Best here, or why a network stopped or failed",
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.best: NetworkComparison | None = None

    def add(self, row: NetworkComparison) -> None:
        at = len(self.records)
        self.beginInsertRows(QModelIndex(), at, at)
        self.records.append(row)
        self.endInsertRows()

    def mark_best(self) -> NetworkComparison | None:
        """Find the row to recommend (bold) and return it."""
        self.best = best_comparison(self.records)
        if self.records:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self.records) - 1, len(self.HEADERS) - 1))
        return self.best

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS[section]
        return super().headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.records):
            return None
        row = self.records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _cells(row, row is self.best)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.error or (f"{row.title}\nrun {row.run_id}\nmodel: {row.model_path}\n"
                                 f"features timed on {row.runtime}")
        if role == Qt.ItemDataRole.ForegroundRole and row.error:
            return QColor("#b3261e")
        if role == Qt.ItemDataRole.TextAlignmentRole and 0 < index.column() < 8:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and row is self.best:
            font = QFont()
            font.setBold(True)
            return font
        return None


def _cells(row: NetworkComparison, best: bool) -> tuple[str, ...]:
    name = row.title.split(" (")[0]  # the rest ("offline, 240 px") is in the tooltip
    if row.error:
        return (name, "—", "—", "—", "—", "—", "—", "—", "failed: " + row.error)
    note = {"cancelled": "cancelled", "early_stopping": "stopped early"}.get(row.stopped, "")
    if best:
        note = "best here" + (f", {note}" if note else "")
    return (
        name, _number(row.val_accuracy, "{:.3f}"), _number(row.val_balanced_accuracy, "{:.3f}"),
        _number(row.val_loss, "{:.3g}"),
        _number(row.baseline_accuracy, "{:.3f}"),
        format_duration(row.seconds) if row.seconds is not None else "—",
        _number(row.images_per_second, "{:.0f}"), _number(row.model_mb, "{:.1f} MB"), note,
    )


def _number(value: float | None, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


class ComparePanel(QGroupBox):
    """Progress, the comparison table and "Use this network"; hidden until a comparison."""

    network_chosen = Signal(object)
    """The NetworkComparison the user chose to go on with."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Compare networks — a quick head on each, same photos, same split",
                         parent)
        self.model = ComparisonModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.view.verticalHeader().setVisible(False)
        self.view.selectionModel().currentRowChanged.connect(self._row_selected)
        self.view.doubleClicked.connect(self.use_selected)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after this batch; the networks done so far keep "
                                      "their rows and their runs")
        self.use_button = QPushButton("Use this network")
        self.use_button.setToolTip("Set the Train form's network to the selected row's, and "
                                   "use its model (already trained) in the next steps")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self.setVisible(False)
        self._index, self._total, self._title = 0, 0, ""

    def begin(self, networks: int) -> None:
        """A comparison of `networks` networks starts: an empty table, the bar at 0."""
        self.model.best = None
        self.model.set_records([])
        self._total = networks
        self.progress.setRange(0, 100 * networks)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.use_button.setEnabled(False)
        self.status.setText(f"Comparing {networks} networks…")
        self.setVisible(True)

    @Slot(object)
    def show_event(self, event: object) -> None:
        """Follow the comparison's events: the current network, its phase, its row."""
        if isinstance(event, ComparisonStarted):
            self._index, self._title = event.index, event.title
            self.progress.setValue(100 * (event.index - 1))
            self.status.setText(f"Network {event.index} of {event.total}: {event.title}…")
        elif isinstance(event, PhaseProgress | StepEnded):
            phase, done, total = ((event.phase, event.done, event.total)
                                  if isinstance(event, PhaseProgress)
                                  else ("train", event.step, event.total_steps))
            if phase not in BAR_SHARES:
                return
            self.status.setText(f"Network {self._index} of {self._total}: {self._title} — "
                                f"{PHASES[phase]} ({done} of {total})")
            start, width = BAR_SHARES[phase]
            self.progress.setValue(100 * (self._index - 1) + start
                                   + width * done // max(total, 1))
        elif isinstance(event, NetworkComparison):
            self.model.add(event)

    def end(self, rows: list[NetworkComparison], cancelled: bool) -> None:
        """The comparison ended (`rows`: every network tried): select the best row."""
        self.progress.setVisible(False)
        self.model.set_records(rows)  # the live rows had no speeds yet
        best = self.model.mark_best()
        failed = sum(1 for row in rows if row.error)
        summary = f"{len(rows) - failed} of {self._total} networks trained"
        if failed:
            summary += f", {failed} failed (hover for why)"
        if cancelled:
            summary += "; cancelled"
        if best is not None:
            summary += (f". Best here: {best.title}. Select a row and choose "
                        "\u201cUse this network\u201d to continue with it.")
            self.view.selectRow(self.model.records.index(best))
        self.status.setText(summary + ("" if best is not None else "."))

    def failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self.status.setText(f"The comparison failed: {message}")

    def clear(self) -> None:
        """Forget the rows (they were another dataset's) and hide."""
        self.model.best = None
        self.model.set_records([])
        self.setVisible(False)

    def selected(self) -> NetworkComparison | None:
        current = self.view.currentIndex()
        return self.model.records[current.row()] if current.isValid() else None

    @Slot()
    def use_selected(self) -> None:
        row = self.selected()
        if row is not None and row.error is None and row.model_path:
            self.network_chosen.emit(row)

    @Slot(QModelIndex, QModelIndex)
    def _row_selected(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.selected()
        self.use_button.setEnabled(row is not None and row.error is None
                                   and bool(row.model_path) and not self.progress.isVisible())
