"""The label finder on the Data step of a labels.csv folder (issue 23): a planted wrong label
is listed with its reason, "Remove label" rewrites labels.csv through a job and the overview
counts it, "Undo last change" gives back the file's exact bytes, and a labels.csv changed by
hand since the search is refused in the engine's words, leaving the file as the user left it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gui_steps import OPEN_TIMEOUT_MS, answer_quarantine_dialog, wait_for_data_page
from multilabel_synthetic import labels_of, make_patch_dataset
from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.modeltest import ModelTester
from synthetic import make_dataset

from cheetahlion_gui.data.label_suspects_model import DoubtRole
from training.records.multilabel_suspects import LabelDoubt, LabelSuspect, LabelSuspectReport

PHOTOS = 120
PLANTED = "004.png"
"""Shows no square at all, but labels.csv gives it "red"."""


@pytest.fixture(scope="module")
def patches(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """The coloured-square photos with labels.csv, one wrong label planted; the file's bytes
    (Windows line endings and a byte-order mark, which an edit and its undo must keep)."""
    root = make_patch_dataset(tmp_path_factory.mktemp("finder-gui") / "patches").root
    rows = ["path,labels"]
    for index in range(PHOTOS):
        name = f"{index:03d}.png"
        labels = set(labels_of(index)) | ({"red"} if name == PLANTED else set())
        rows.append(f"{name},{';'.join(sorted(labels))}")
    data = b"\xef\xbb\xbf" + ("\r\n".join(rows) + "\r\n").encode()
    return root, data


def _rows(view) -> list:
    return [view.model.index(row).data(DoubtRole) for row in range(view.model.rowCount())]


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_a_wrong_label_is_found_removed_and_undone(window, qtbot, messages,
                                                  patches: tuple[Path, bytes]) -> None:
    root, original = patches
    labels_csv = root / "labels.csv"
    labels_csv.write_bytes(original)
    page = window.data_page
    with qtbot.waitSignal(page.scan_finished, timeout=OPEN_TIMEOUT_MS):
        assert page.open_folder(root)
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=OPEN_TIMEOUT_MS)
    view = page.label_suspects_view
    tab = page.tabs.indexOf(view)
    assert page.tabs.isTabVisible(tab) and page.tabs.isTabEnabled(tab)
    assert page.tabs.tabText(tab) == "Likely wrong labels"
    red_before = window.session.multilabel.label_counts["red"]

    page.tabs.setCurrentWidget(view)
    _click(qtbot, view.find_button)
    assert view.cancel_button.isVisible() and not view.find_button.isEnabled()
    qtbot.waitUntil(lambda: view.job is None and not page.runner.busy, timeout=180_000)
    assert not messages, messages
    ModelTester(None).check(view.model)
    rows = _rows(view)
    first = rows[0]
    assert (first.suspect.relpath, first.doubt.label, first.doubt.kind) == \
        (PLANTED, "red", "wrong"), [(r.suspect.relpath, r.doubt.label) for r in rows[:5]]
    assert view.model.index(0).data() == \
        f"{PLANTED}\nremove 'red'? {first.doubt.score:.2f}\nhas: red"
    assert "photos have a label that is likely missing or wrong" in view.status.text()

    view.view.selectionModel().select(view.model.index(0),
                                      QItemSelectionModel.SelectionFlag.ClearAndSelect)
    assert "'red' is doubtful" in view.details.text() and "remove it?" in view.details.text()
    assert not view.add_button.isEnabled()
    _click(qtbot, view.remove_button)
    wait_for_data_page(page, qtbot)
    assert not messages, messages
    assert f"\r\n{PLANTED},\r\n".encode() in labels_csv.read_bytes()
    assert labels_csv.read_bytes().startswith(b"\xef\xbb\xbf")
    assert window.session.multilabel.label_counts["red"] == red_before - 1  # scanned again
    assert f"red ({red_before - 1})" in page.overview.summary.text()
    assert PLANTED not in [row.suspect.relpath for row in _rows(view)]
    assert page.tabs.currentWidget() is view, "the edit's scan keeps the finder in view"

    _click(qtbot, view.undo_button)
    wait_for_data_page(page, qtbot)
    assert labels_csv.read_bytes() == original
    assert window.session.multilabel.label_counts["red"] == red_before
    assert _rows(view)[0].suspect.relpath == PLANTED and not view.undo_button.isEnabled()

    edited_by_hand = original.replace(b"\r\n000.png,", b"\r\n000.png,blue")
    labels_csv.write_bytes(edited_by_hand)
    view.view.selectionModel().select(view.model.index(0),
                                      QItemSelectionModel.SelectionFlag.ClearAndSelect)
    _click(qtbot, view.remove_button)
    qtbot.waitUntil(lambda: bool(messages), timeout=OPEN_TIMEOUT_MS)
    wait_for_data_page(page, qtbot)
    (title, text), = messages
    assert title == "The labels were not changed"
    assert text == (f"{labels_csv} changed on disk since it was read (edited by hand or by "
                    f"another program), so the labels of {PLANTED} were not changed. Scan "
                    "the folder again and retry.")
    assert labels_csv.read_bytes() == edited_by_hand


def test_in_class_folders_remove_moves_the_copy_out_and_undo_brings_it_back(
        window, qtbot, messages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder remembered as multi-label opens as one; taking a label off a photo moves
    its copy out of that label's folder into the quarantine folder asked for."""
    root = make_dataset(tmp_path / "tags", classes=("red", "blue"), per_class=6).resolve()
    shutil.copy(root / "red" / "0.png", root / "blue" / "also-0.png")
    window.session.settings.remember_multilabel(root, True)
    page = window.data_page
    with qtbot.waitSignal(page.scan_finished, timeout=OPEN_TIMEOUT_MS):
        assert page.open_folder(root)
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=OPEN_TIMEOUT_MS)
    dataset = window.session.multilabel
    assert dataset is not None and dataset.label_counts == {"blue": 7, "red": 6}
    (photo,) = [image for image in dataset.images if len(image.labels) == 2]
    doubt = LabelDoubt("blue", "wrong", 0.02, 0.98, "'blue' is doubtful — remove it?")
    view = page.label_suspects_view
    view._found(LabelSuspectReport(  # the finder's verdict, without running it
        (LabelSuspect(photo.path, photo.relpath, ("blue", "red"), (doubt,),
                      photo.content_hash),), dataset.labels, 5, 1.0, "folders"))
    page.tabs.setCurrentWidget(view)
    view.view.selectionModel().select(view.model.index(0),
                                      QItemSelectionModel.SelectionFlag.ClearAndSelect)
    asked = answer_quarantine_dialog(monkeypatch, tmp_path / "quarantine")
    _click(qtbot, view.remove_button)
    wait_for_data_page(page, qtbot)
    assert asked == ["Quarantine folder for images taken out of tags"] and not messages
    assert not (root / "blue" / "also-0.png").exists()
    assert (tmp_path / "quarantine" / "blue" / "also-0.png").is_file()
    assert window.session.multilabel.label_counts == {"blue": 6, "red": 6}
    assert view.model.rowCount() == 0

    _click(qtbot, view.undo_button)
    wait_for_data_page(page, qtbot)
    assert (root / "blue" / "also-0.png").is_file() and not messages
    assert window.session.multilabel.label_counts == {"blue": 7, "red": 6}
    assert view.model.rowCount() == 1
