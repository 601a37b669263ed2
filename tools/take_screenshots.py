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
and evaluating, "Compare networks" runs a quick head on each offline network. The clicks
and waits are the app's session driver's (cheetahlion_gui/session_driver.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

SIZE = (1280, 800)
TIMEOUT_S = 900.0
"""Any one step on 300 real photos (the comparison of networks takes longest)."""


def visible_dialog(app, kind):
    return next(w for w in app.topLevelWidgets() if isinstance(w, kind) and w.isVisible())


def shoot_data(app, driver, data: Path, quarantine: Path, out: Path) -> None:
    """0, 1, 1a: the empty window; the scanned copy with its conflict selected; the Fix menu
    that fixes it (then its last action, keep the copy in 'lion', quarantining the other)."""
    window = driver.window
    driver.pause(1.5)
    window.grab().save(str(out / "0-empty.png"))
    driver.open_dataset(data)
    health = window.data_page.health
    health.issues_view.setCurrentIndex(health.issue_filter.index(0, 0))  # the conflict
    driver.pause(3)
    window.grab().save(str(out / "1-data.png"))
    window.session.settings.remember_quarantine_folder(data, quarantine)
    health.fix_menu.popup(  # as a click on "Fix…" opens it, without blocking this script
        health.fix_button.mapToGlobal(health.fix_button.rect().bottomLeft()))
    driver.pause(1)
    app.primaryScreen().grabWindow(0, 0, 0, *SIZE).save(str(out / "1a-conflict-fix.png"))
    health.fix_menu.actions()[-1].trigger()  # keep the copy in 'lion'
    health.fix_menu.hide()
    conflict = data / "cheetah" / "lion-copy.jpg"
    driver.wait(lambda: not window.data_page.runner.busy and not conflict.exists()
                and len(window.session.dataset.images) == 300, "fixing the conflict")


def shoot_suspects(driver, out: Path) -> None:
    """1b, 1d, 1c: the finder's ranking, the map, and the moves after quarantining the
    flagged photos."""
    from cheetahlion_gui.data.suspects_model import SuspectRole

    window = driver.window
    data_page = window.data_page
    driver.go_to("Data")
    driver.find_mislabelled()
    suspects = data_page.suspects_view
    suspects.view.setCurrentIndex(suspects.model.index(0))
    driver.pause(3)
    window.grab().save(str(out / "1b-suspects.png"))
    driver.show_data_tab(data_page.map_view)  # after the finder it draws itself
    show_the_map(driver, data_page.map_view, out)

    flagged = [row for row in range(suspects.model.rowCount())
               if suspects.model.index(row).data(SuspectRole).flagged]
    selection = suspects.view.selectionModel()
    selection.clearSelection()
    for row in flagged:
        selection.select(suspects.model.index(row), selection.SelectionFlag.Select)
    suspects.quarantine_selected()
    driver.wait(lambda: not data_page.runner.busy
                and len(window.session.dataset.images) < 300, "quarantining")
    driver.show_data_tab(data_page.moves_panel)
    driver.pause(2)
    window.grab().save(str(out / "1c-moves.png"))


def show_the_map(driver, view, out: Path) -> None:
    """1d: the map with the finder's flags ringed, the flagged cheetahs selected (as a lasso
    around them would) and the card of the first one under the pointer."""
    driver.wait(lambda: view.shown is not None and not view.jobs.busy, "drawing the map")
    shown = view.shown
    flagged = [i for i in range(len(shown)) if shown.flag(i)]
    view.plot.select(np.array([i in flagged and shown.classes[shown.labels[i]] == "cheetah"
                               for i in range(len(shown))]))
    view.plot.hovered.emit(flagged[0])
    driver.pause(2)
    driver.window.grab().save(str(out / "1d-map.png"))
    view.plot.hovered.emit(-1)
    view.clear_selection()


def shoot_train(app, driver, out: Path) -> None:
    """2, 2b, 2d: the history after the clean-up, the export's result, the comparison."""
    window = driver.window
    driver.train("train (after)")  # after the clean-up: the history shows both runs
    driver.pause(1)
    window.grab().save(str(out / "2-train.png"))
    history = window.train_page.history_panel
    run = window.train_page.selected_run()
    exported = Path(tempfile.mkdtemp(prefix="cheetahlion-export-")) / "cheetah-lion.onnx"
    driver.watching = False  # the export's result is a message box: it is shot, not a failure
    history.exporter.export(run.model_path, exported, "onnx",
                            [r.path for r in window.session.dataset.images[::40]])
    driver.wait(lambda: not history.exporter.runner.busy, "exporting")
    driver.pause(1)
    dialog = next(w for w in app.topLevelWidgets()
                  if w.objectName() == "messageDialog" and w.isVisible())
    dialog.grab().save(str(out / "2b-exported.png"))
    dialog.accept()
    driver.watching = True
    page = window.train_page  # Compare networks: a quick head on each offline network
    driver.step("comparing networks", page.compare, page.comparison_finished, page.runner)
    driver.pause(1)
    window.grab().save(str(out / "2d-compare.png"))


def shoot_evaluate(app, driver, out: Path) -> None:
    """3, 3b: the confusion matrix with a wrong cell clicked, one image explained."""
    from cheetahlion_gui.widgets.explain_view import ExplainDialog

    window, page = driver.window, driver.window.evaluate_page
    driver.evaluate()
    wrong = [(r, c) for r in range(page.confusion.rowCount())
             for c in range(page.confusion.columnCount())
             if r != c and page.confusion.counts[r][c]]
    cell = wrong[0] if wrong else (1, 1)
    page.show_cell(page.confusion.index(*cell))  # as a click on that cell does
    driver.pause(3)
    window.grab().save(str(out / "3-evaluate.png"))
    page.gallery_view.doubleClicked.emit(page.gallery.index(0))
    explain = visible_dialog(app, ExplainDialog)
    driver.wait(lambda: explain.view.shown is not None, "explaining")
    driver.pause(1)
    explain.grab().save(str(out / "3b-explain.png"))
    explain.accept()


def shoot_classify(app, driver, sources: list[Path], out: Path) -> None:
    """4, 4b, 4c: the gallery strangest first, a preview with its Grad-CAM, the review."""
    from cheetahlion_gui.widgets.preview_dialog import PreviewDialog

    window, classify = driver.window, driver.window.classify_page
    driver.go_to("Classify")
    driver.step("classify", lambda: classify.open_sources(sources),
                classify.classification_finished, classify.runner)
    sort = classify.filters.sort
    sort.setCurrentIndex(sort.findData("novelty"))  # the strangest first
    driver.pause(4)
    window.grab().save(str(out / "4-classify.png"))
    classify.view.doubleClicked.emit(classify.proxy.index(0, 0))
    preview = visible_dialog(app, PreviewDialog)
    driver.wait(lambda: preview.explanation.shown is not None, "previewing")
    driver.pause(1)
    preview.grab().save(str(out / "4b-preview.png"))
    preview.accept()
    review = driver.open_review()  # the quarantined photos: "none of these"
    driver.pause(1)
    review.grab().save(str(out / "4c-review.png"))
    review.reject()  # Esc: to the end page, nothing added
    review.reject()


def shoot_resume(driver, out: Path) -> None:
    """2c: a small fine-tune stopped after its first epoch, resumable in the history."""
    page = driver.window.train_page
    driver.go_to("Train")
    driver.set_train_settings("finetune", image_size=96, epochs=3)
    driver.start_training()
    driver.wait(lambda: len(page.progress_panel.plots.history.epochs) >= 1, "fine-tuning")
    driver.stop_training()
    driver.wait(page.history_panel.resume_button.isEnabled, "offering Resume")
    driver.pause(1)
    driver.window.grab().save(str(out / "2c-resume.png"))


def main() -> int:
    source, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="cheetahlion-shots-"))
    os.environ["CHEETAHLION_HOME"] = str(scratch / "home")
    data = scratch / source.name
    shutil.copytree(source, data)
    # the same photo under two labels
    shutil.copyfile(data / "lion" / "0.jpg", data / "cheetah" / "lion-copy.jpg")
    quarantine = scratch / "quarantine"
    from PySide6.QtWidgets import QApplication

    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.resources import style_sheet
    from cheetahlion_gui.session_driver import SessionDriver
    from cheetahlion_gui.settings import Settings

    app = QApplication([sys.argv[0]])
    app.setStyleSheet(style_sheet())
    window = MainWindow(Settings.load())
    window.resize(*SIZE)
    window.show()
    driver = SessionDriver(window, TIMEOUT_S)
    shoot_data(app, driver, data, quarantine, out)
    driver.train("train (before)")
    shoot_suspects(driver, out)
    shoot_train(app, driver, out)
    shoot_evaluate(app, driver, out)
    shoot_classify(app, driver, [quarantine, data / "lion"], out)
    shoot_resume(driver, out)
    window.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
