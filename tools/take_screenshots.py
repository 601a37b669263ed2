"""Drive the real app through its four steps on real photos and save a screenshot of each.

Run under Xvfb for real window decorations and fonts:
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python tools/take_screenshots.py DATA OUT
It uses a temporary CHEETAHLION_HOME, copies nothing into DATA and writes only into OUT.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


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


def main() -> int:
    data, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["CHEETAHLION_HOME"] = tempfile.mkdtemp(prefix="cheetahlion-shots-")
    from PySide6.QtWidgets import QApplication

    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.resources import style_sheet
    from cheetahlion_gui.settings import Settings

    app = QApplication([sys.argv[0]])
    app.setStyleSheet(style_sheet())
    window = MainWindow(Settings.load())
    window.resize(1280, 800)
    window.show()
    settle(app, 1.5)
    window.grab().save(str(out / "0-empty.png"))

    window.open_dataset(data)
    wait_until(app, lambda: not window.data_page.runner.busy and window.session.dataset)
    settle(app, 3)
    window.grab().save(str(out / "1-data.png"))

    window.sidebar.setCurrentRow(1)
    window.train_page.start()
    wait_until(app, lambda: not window.train_page.runner.busy)
    settle(app, 1)
    window.grab().save(str(out / "2-train.png"))

    page = window.train_page
    run = page.selected_run()
    exported = Path(tempfile.mkdtemp(prefix="cheetahlion-export-")) / "cheetah-lion.onnx"
    page.exporter.export(run.model_path, exported, "onnx",
                         [r.path for r in window.session.dataset.images[::40]])
    wait_until(app, lambda: not page.exporter.runner.busy)
    settle(app, 1)
    dialog = next(w for w in app.topLevelWidgets()
                  if w.objectName() == "messageDialog" and w.isVisible())
    dialog.grab().save(str(out / "2b-exported.png"))
    dialog.accept()

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

    window.sidebar.setCurrentRow(3)
    window.classify_page.open_sources([data / "lion", data / "cheetah"])
    wait_until(app, lambda: not window.classify_page.runner.busy
               and window.classify_page.model.rowCount() > 0)
    sort = window.classify_page.sort
    sort.setCurrentIndex(sort.findData("confidence"))  # the doubtful ones first
    settle(app, 4)
    window.grab().save(str(out / "4-classify.png"))
    window.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
