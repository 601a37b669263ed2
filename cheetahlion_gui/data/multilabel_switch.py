"""The Data step's multi-label switch for class folders, and the offer to turn it on.

Class folders are single-label unless the user says otherwise: the same photo in two folders
is then a filing mistake, which the health report names ("sit in different classes"). But a
user who labels photos with several things may file each photo in the folder of every label
it has; the switch ("Photos can have several labels") scans the folders as one multi-label
dataset instead (`scan_multilabel(from_folders=True)`), where those copies are one photo
with several labels. When a single-label scan finds many such copies, the offer says so in
one line with a button that turns the switch on (`offers_multilabel` says when).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

OFFER_MIN_PHOTOS = 5
OFFER_MIN_SHARE = 0.05


def offers_multilabel(copies: int, photos: int) -> bool:
    """Whether `copies` photos (of `photos` distinct ones) in two or more class folders look
    like a multi-label dataset rather than filing mistakes: at least 5 photos and 5 %.

    One or two photos in two folders are what a person filing by hand gets wrong, and the
    health report's fix (keep the right copy) is the answer; a labelling tool that files a
    photo under each of its labels makes copies by the dozen. Five photos keep a small
    folder's few slips (3 of 40 is 7 %) from being taken for a scheme; five per cent keeps
    a large collection's scattered slips (20 of 5000) from it too, while a real multi-label
    set, where a fifth or more of the photos usually carry two labels, passes both.
    """
    return copies >= OFFER_MIN_PHOTOS and copies >= OFFER_MIN_SHARE * photos


class MultiLabelSwitch(QWidget):
    """The switch, and beside it the offer when a single-label scan suggests it."""

    switched = Signal(bool)
    """The user turned the switch on (True) or off: the folder is to be scanned again so."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.check = QCheckBox("Photos can have several labels (the same photo in several "
                               "folders)")
        self.check.setToolTip("Scan the class folders as a multi-label dataset: a photo that "
                              "sits in several folders has each of their labels")
        self.check.clicked.connect(self._clicked)
        self.offer = QLabel()
        self.offer.setStyleSheet("color: #20344f; font-weight: bold;")
        self.offer_button = QPushButton("Treat as multi-label")
        self.offer_button.setToolTip("Turn on “Photos can have several labels” and scan the "
                                     "folder again")
        self.offer_button.clicked.connect(self.accept_offer)
        self.offer.setWordWrap(True)
        offer_row = QHBoxLayout()
        offer_row.addWidget(self.offer, 1)
        offer_row.addWidget(self.offer_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.check, 0, Qt.AlignmentFlag.AlignLeft)  # clicked on its text
        column.addLayout(offer_row)
        self.show_state(None)

    def show_state(self, multilabel: bool | None, copies: int = 0, photos: int = 0) -> None:
        """None: hidden (no dataset, or a labels.csv folder, which is multi-label anyway);
        else the switch as it stands, and the offer for a single-label scan whose
        cross-folder copies suggest multi-label."""
        self.setVisible(multilabel is not None)
        self.check.setChecked(bool(multilabel))
        offered = multilabel is False and offers_multilabel(copies, photos)
        self.offer.setText(f"{copies} of {photos} photos sit in several class folders: this "
                           "looks like a multi-label dataset." if offered else "")
        self.offer.setVisible(offered)
        self.offer_button.setVisible(offered)

    @Slot()
    def accept_offer(self) -> None:
        """The offer's button: as if the user had ticked the switch."""
        self.check.setChecked(True)
        self._clicked(True)

    @Slot(bool)
    def _clicked(self, checked: bool) -> None:
        self.switched.emit(checked)
