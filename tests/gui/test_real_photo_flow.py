"""The whole app driven by clicks on real photos: data, train, evaluate, classify.

Stopping a fine-tune from the window (the best model kept, "You pressed Stop after epoch …")
is checked on small synthetic photos by tests/gui/test_resume_gui.py, which stops one anyway
before resuming it: the same clicks here cost another fine-tune on 300 photos. Closing
the window mid-fine-tune is checked on synthetic photos in tests/gui/test_close_runners.py."""

from __future__ import annotations

import csv
import shutil
import threading
from pathlib import Path

import pytest
from gui_steps import open_dataset
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester

import training
from cheetahlion_gui.classify.page import PreviewDialog
from cheetahlion_gui.widgets.gallery_model import ErrorRole, PathRole
from training.fitting.trainer import FitResult

pytestmark = pytest.mark.real_photos
TRAIN_TIMEOUT_MS = 180_000


def test_open_dataset_shows_counts_samples_and_health(window, qtbot, real_photos,
                                                      monkeypatch) -> None:
    open_dataset(window, real_photos)
    page = window.data_page
    assert page.stack.currentIndex() == 1
    assert "cheetah (150), lion (150)" in page.overview.summary.text()
    assert "239" in page.overview.summary.text() and "61" in page.overview.summary.text()
    assert not page.overview.blocking.isVisible()
    assert page.overview.samples.rowCount() == 12
    assert page.health.issues.rowCount() >= 15
    assert "near-duplicates" in page.health.issues.index(0).data()
    ModelTester(None).check(page.health.issues)
    ModelTester(None).check(page.overview.samples)
    samples = page.overview.samples
    qtbot.waitUntil(lambda: samples.thumbnails.icon(str(samples.item(0).path)) is not None,
                    timeout=60_000)

    opened = []
    monkeypatch.setattr("cheetahlion_gui.data.health_report.QDesktopServices.openUrl",
                        opened.append)
    page.health.issues_view.setCurrentIndex(page.health.issue_filter.index(0, 0))
    qtbot.mouseClick(page.health.show_button, Qt.MouseButton.LeftButton)
    assert [url.toLocalFile() for url in opened] == [str(real_photos / "cheetah")]
    page.health.severity_combo.setCurrentIndex(page.health.severity_combo.findData("error"))
    assert page.health.issue_filter.rowCount() == 0
    ModelTester(None).check(page.health.issue_filter)


@pytest.mark.slow
def test_quick_training_plots_live_and_lands_in_history(window, qtbot, real_photos,
                                                       monkeypatch) -> None:
    threads = []
    real_fit = training.fit

    def spying_fit(*args, **kwargs):
        threads.append(threading.current_thread())
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(training, "fit", spying_fit)
    open_dataset(window, real_photos)
    window.sidebar.setCurrentRow(1)
    page = window.train_page
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.runner.busy and page.stop_button.isEnabled()
    assert not page.start_button.isEnabled()
    plots = page.progress_panel.plots
    qtbot.waitUntil(lambda: plots.curve_point_counts()["steps"] > 0, timeout=60_000)
    assert page.progress_panel.plots.redrawing
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=TRAIN_TIMEOUT_MS)

    assert threads and threads[0] is not threading.main_thread(), "training ran on the GUI thread"
    counts = page.progress_panel.plots.curve_point_counts()
    assert counts["val_accuracy"] >= 1 and counts["val_loss"] == counts["val_accuracy"]
    assert page.progress_panel.plots.history.baseline == pytest.approx(1.0, abs=0.1)
    assert page.progress_panel.plots.baseline_line.isVisible()
    assert "validation accuracy" in page.progress_panel.phase_label.text().lower()
    assert page.history_panel.model.rowCount() == 1
    ModelTester(None).check(page.history_panel.model)
    assert float(page.history_panel.model.index(0, 4).data()) >= 0.95
    assert window.session.model_path and Path(window.session.model_path).exists()

    # Overlay a run: tick its checkbox.
    history = page.history_panel.model
    history.setData(history.index(0, 0), Qt.CheckState.Checked.value,
                    Qt.ItemDataRole.CheckStateRole)
    assert len(page.progress_panel.plots._overlays) == 2


@pytest.mark.slow  # the session trains real_photo_model for it
def test_evaluate_then_click_a_confusion_cell(window, qtbot, real_photos,
                                              real_photo_model: FitResult) -> None:
    """The Evaluate step on the quick model of these photos: the session's, trained with the
    Train step's defaults (TrainConfig.quick()), so not trained through the window again."""
    open_dataset(window, real_photos)
    window.session.set_model(str(real_photo_model.model_path), "cheetah-lion")
    window.sidebar.setCurrentRow(2)  # showing the page evaluates the session's model
    page = window.evaluate_page
    qtbot.waitUntil(lambda: page.report is not None and not page.runner.busy, timeout=60_000)
    assert "validation images" in page.accuracy_label.text()
    flagged = sum(outcome.unfamiliar for outcome in page.report.outcomes)
    assert 0 < flagged < 61 * 0.15, "calibrated on validation: about 5 % are flagged"
    assert f"{flagged} of the 61 validation photos" in page.accuracy_label.text()
    assert "none of these" in page.accuracy_label.text()
    assert page.per_class.rowCount() == 2
    ModelTester(None).check(page.confusion)
    ModelTester(None).check(page.per_class)
    total = sum(int(page.confusion.index(r, c).data()) for r in range(2) for c in range(2))
    assert total == 61
    cell = page.confusion.index(1, 1)
    page.confusion_view.clicked.emit(cell)
    assert page.gallery.rowCount() == int(cell.data())
    assert "True lion, predicted lion" in page.gallery_title.text()


def test_classify_gallery_with_broken_files_export_and_move(window, qtbot, real_photos,
                                                           tmp_path: Path) -> None:
    gallery = tmp_path / "gallery"
    (gallery / "nested").mkdir(parents=True)
    for name in ("0.jpg", "1.jpg", "2.jpg"):
        shutil.copy(real_photos / "lion" / name, gallery / f"lion-{name}")
        shutil.copy(real_photos / "cheetah" / name, gallery / "nested" / f"cheetah-{name}")
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    (gallery / "empty.png").write_bytes(b"")
    (gallery / "notes.txt").write_text("not an image")

    window.sidebar.setCurrentRow(3)
    page = window.classify_page
    page.sources_bar.model_source.setCurrentIndex(page.sources_bar.model_source.findData("imagenet"))
    page.open_sources([gallery])
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() > 0,
                    timeout=120_000)
    ModelTester(None).check(page.model)
    ModelTester(None).check(page.proxy)
    items = page.model.items()
    assert len(items) == 8
    broken = {Path(i.path).name for i in items if i.error}
    assert broken == {"broken.jpg", "empty.png"}
    labels = {Path(i.path).name: i.label for i in items if not i.error}
    assert all(labels[f"lion-{n}"] == "lion" for n in ("0.jpg", "1.jpg", "2.jpg"))
    assert "2 broken" in page.file_actions.summary.text()

    page.filters.show_filter.setCurrentText("Broken")
    assert page.proxy.rowCount() == 2
    assert page.proxy.index(0, 0).data(ErrorRole)
    page.filters.show_filter.setCurrentText("lion")
    assert page.proxy.rowCount() == 3
    page.filters.show_filter.setCurrentText("All")
    page.filters.sort.setCurrentIndex(page.filters.sort.findData("confidence"))
    confidences = [page.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 3)
                   for r in range(page.proxy.rowCount())]
    known = [c for c in confidences if c is not None]
    assert known == sorted(known)

    first = page.proxy.index(0, 0)
    page.view.doubleClicked.emit(first)
    dialog = page.findChild(PreviewDialog)
    assert dialog is not None and dialog.probabilities.rowCount() == 20  # top 20 of 1000
    shown = page.model.item(page.proxy.mapToSource(first).row())
    assert dialog.probabilities.index(0).data().startswith(f"{shown.label}: ")
    dialog.close()

    out_csv = tmp_path / "results.csv"
    assert page.export_csv_to(out_csv, page.chosen_items())
    qtbot.waitUntil(lambda: not page.file_actions.files.runner.busy, timeout=60_000)
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert len(rows) == 8 and {r["path"] for r in rows} == {i.path for i in items}
    assert sum(1 for r in rows if r["error"]) == 2

    target = tmp_path / "sorted"
    good = [i for i in page.chosen_items() if i.label and not i.error]
    before = {p.read_bytes() for p in gallery.rglob("*.jpg") if p.name != "broken.jpg"}
    assert page.sort_files_into(target, good, move=True)
    qtbot.waitUntil(lambda: not page.file_actions.files.runner.busy, timeout=60_000)
    moved = {p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert moved == before, "every moved photo arrived intact"
    assert not list(gallery.rglob("lion-*")) and (gallery / "broken.jpg").exists()
    assert "6 file(s) moved" in page.file_actions.summary.text()
    paths = {page.model.index(r).data(PathRole) for r in range(page.model.rowCount())}
    assert all(Path(p).exists() for p in paths if not p.endswith(("broken.jpg", "empty.png")))
