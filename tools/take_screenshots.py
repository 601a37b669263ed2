"""Drive the real app through its four steps on real photos and save a screenshot of each.

Run under Xvfb for real window decorations and fonts:
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python tools/take_screenshots.py DATA OUT
It works on a temporary copy of DATA (the clean-up step moves files), uses a temporary
CHEETAHLION_HOME, and writes only into OUT.

The walk: scan a copy holding one photo in two class folders and fix that conflict in one
click, train (before), find likely mislabelled photos, see them ringed on the dataset map
(the flagged cheetahs selected, one hovered), quarantine the flagged ones, train
again (after: the history shows both), evaluate and explain an image, then classify a
gallery holding the quarantined photos, where the model says "none of these", preview one
with its Grad-CAM and open the review of the unsure ones; last, start a small fine-tune,
stop it after its first epoch, and show it resumable in the run history. Between training
and evaluating, "Compare networks" runs a quick head on each offline network
(`shoot_compare`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def wait_until(app, condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def settle(app, seconds: float = 1.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def visible_dialog(app, kind):
    return next(w for w in app.topLevelWidgets() if isinstance(w, kind) and w.isVisible())


def shoot_compare(app, window, out: Path) -> None:
    """Train step → Compare networks, wait for every row, save 2d-compare.png."""
    page = window.train_page
    window.sidebar.setCurrentRow(1)
    page.compare()
    wait_until(app, lambda: not page.runner.busy, timeout=900)
    settle(app, 1)
    window.grab().save(str(out / "2d-compare.png"))


def show_the_map(app, view, window, out: Path) -> None:
    """1d: the map with the finder's flags ringed, the flagged cheetahs selected (as a lasso
    around them would) and the card of the first one under the pointer."""
    wait_until(app, lambda: view.shown is not None and not view.jobs.busy)
    shown = view.shown
    flagged = [i for i in range(len(shown)) if shown.flag(i)]
    view.plot.select(np.array([i in flagged and shown.classes[shown.labels[i]] == "cheetah"
                               for i in range(len(shown))]))
    view.plot.hovered.emit(flagged[0])
    settle(app, 2)
    window.grab().save(str(out / "1d-map.png"))
    view.plot.hovered.emit(-1)
    view.clear_selection()


def main() -> int:
    source, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="cheetahlion-shots-"))
    os.environ["CHEETAHLION_HOME"] = str(scratch / "home")
    data = scratch / source.name
    shutil.copytree(source, data)
    conflict = data / "cheetah" / "lion-copy.jpg"  # the same photo under two labels
    shutil.copyfile(data / "lion" / "0.jpg", conflict)
    quarantine = scratch / "quarantine"
    from PySide6.QtWidgets import QApplication

    from cheetahlion_gui.explain_view import ExplainDialog
    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.preview_dialog import PreviewDialog
    from cheetahlion_gui.resources import style_sheet
    from cheetahlion_gui.settings import Settings
    from cheetahlion_gui.suspects_model import SuspectRole

    app = QApplication([sys.argv[0]])
    app.setStyleSheet(style_sheet())
    window = MainWindow(Settings.load())
    window.resize(1280, 800)
    window.show()
    settle(app, 1.5)
    window.grab().save(str(out / "0-empty.png"))

    window.open_dataset(data)
    wait_until(app, lambda: not window.data_page.runner.busy and window.session.dataset)
    data_page = window.data_page
    data_page.health.issues_view.setCurrentIndex(data_page.health.issue_filter.index(0, 0))  # the conflict
    settle(app, 3)
    window.grab().save(str(out / "1-data.png"))
    window.session.settings.remember_quarantine_folder(data, quarantine)
    data_page.health.fix_menu.popup(  # as a click on "Fix…" opens it, without blocking this script
        data_page.health.fix_button.mapToGlobal(data_page.health.fix_button.rect().bottomLeft()))
    settle(app, 1)
    app.primaryScreen().grabWindow(0, 0, 0, 1280, 800).save(str(out / "1a-conflict-fix.png"))
    data_page.health.fix_menu.actions()[-1].trigger()  # keep the copy in 'lion'
    data_page.health.fix_menu.hide()
    wait_until(app, lambda: not data_page.runner.busy and not conflict.exists()
               and len(window.session.dataset.images) == 300)

    window.sidebar.setCurrentRow(1)
    window.train_page.start()
    wait_until(app, lambda: not window.train_page.runner.busy)

    window.sidebar.setCurrentRow(0)
    data_page.tabs.setCurrentWidget(data_page.suspects_view)
    suspects = data_page.suspects_view
    suspects.find()
    wait_until(app, lambda: suspects.job is None and suspects.model.rowCount() > 0)
    suspects.view.setCurrentIndex(suspects.model.index(0))
    settle(app, 3)
    window.grab().save(str(out / "1b-suspects.png"))
    data_page.tabs.setCurrentWidget(data_page.map_view)  # after the finder it draws itself
    show_the_map(app, data_page.map_view, window, out)

    flagged = [row for row in range(suspects.model.rowCount())
               if suspects.model.index(row).data(SuspectRole).flagged]
    selection = suspects.view.selectionModel()
    selection.clearSelection()
    for row in flagged:
        selection.select(suspects.model.index(row), selection.SelectionFlag.Select)
    suspects.quarantine_selected()
    wait_until(app, lambda: not data_page.runner.busy
               and len(window.session.dataset.images) < 300)
    data_page.tabs.setCurrentWidget(data_page.moves_panel)
    settle(app, 2)
    window.grab().save(str(out / "1c-moves.png"))

    window.sidebar.setCurrentRow(1)
    window.train_page.start()  # after the clean-up: the history shows both runs
    wait_until(app, lambda: not window.train_page.runner.busy)
    settle(app, 1)
    window.grab().save(str(out / "2-train.png"))

    page = window.train_page
    run = page.selected_run()
    exported = Path(tempfile.mkdtemp(prefix="cheetahlion-export-")) / "cheetah-lion.onnx"
    page.history_panel.exporter.export(run.model_path, exported, "onnx",
                         [r.path for r in window.session.dataset.images[::40]])
    wait_until(app, lambda: not page.history_panel.exporter.runner.busy)
    settle(app, 1)
    dialog = next(w for w in app.topLevelWidgets()
                  if w.objectName() == "messageDialog" and w.isVisible())
    dialog.grab().save(str(out / "2b-exported.png"))
    dialog.accept()
    shoot_compare(app, window, out)

    window.sidebar.setCurrentRow(2)
    wait_until(app, lambda: window.evaluate_page.report is not None
               and not window.evaluate_page.runner.busy)
    page = window.evaluate_page
    wrong = [(r, c) for r in range(page.confusion.rowCount())
             for c in range(page.confusion.columnCount())
             if r != c and page.confusion.counts[r][c]]
    cell = wrong[0] if wrong else (1, 1)
    page.show_cell(page.confusion.index(*cell))  # as a click on that cell does
    settle(app, 3)
    window.grab().save(str(out / "3-evaluate.png"))
    page.gallery_view.doubleClicked.emit(page.gallery.index(0))
    explain = visible_dialog(app, ExplainDialog)
    wait_until(app, lambda: explain.view.shown is not None)
    settle(app, 1)
    explain.grab().save(str(out / "3b-explain.png"))
    explain.accept()

    window.sidebar.setCurrentRow(3)
    classify = window.classify_page
    classify.open_sources([quarantine, data / "lion"])
    wait_until(app, lambda: not classify.runner.busy and classify.model.rowCount() > 0)
    classify.filters.sort.setCurrentIndex(classify.filters.sort.findData("novelty"))  # the strangest first
    settle(app, 4)
    window.grab().save(str(out / "4-classify.png"))
    classify.view.doubleClicked.emit(classify.proxy.index(0, 0))
    preview = visible_dialog(app, PreviewDialog)
    wait_until(app, lambda: preview.explanation.shown is not None)
    settle(app, 1)
    preview.grab().save(str(out / "4b-preview.png"))
    preview.accept()
    review = classify.review_unsure()  # the quarantined photos: "none of these"
    wait_until(app, lambda: review.picture.pixmap() is not None
               and not review.picture.pixmap().isNull())
    settle(app, 1)
    review.grab().save(str(out / "4c-review.png"))
    review.reject()  # Esc: to the end page, nothing added
    review.reject()
    window.sidebar.setCurrentRow(1)
    train = window.train_page
    train.form.mode.setCurrentIndex(train.form.mode.findData("finetune"))
    train.form.advanced.setChecked(True)
    train.form.image_size.setValue(96)
    train.form.epochs.setValue(3)
    train.start()
    wait_until(app, lambda: len(train.progress_panel.plots.history.epochs) >= 1)
    train.stop()
    wait_until(app, lambda: not train.runner.busy and train.history_panel.resume_button.isEnabled())
    settle(app, 1)
    window.grab().save(str(out / "2c-resume.png"))
    window.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
