"""Labelling the unsure photos by keyboard (issue 15): from a key press to the next photo.

The real app, offscreen: a dataset of 50 photos per class is opened, a gallery of 100 other
photos is classified with the built-in ImageNet model and every photo counted as unsure,
then the Classify step's review dialog is driven by simulated key presses, one per photo:
"1", "2", "1", Space, … (three copies into the dataset for every skip). For each key the
clock runs from the press until the next photo is on screen (shown and painted); a photo
that was not decoded yet when its turn came counts as a wait. Three runs:

1. the dataset's own photos (474 px wide), a key every `--pace` seconds (a fast labeller);
2. the same photos re-encoded at phone size (4032 px wide JPEGs), same pace;
3. phone size, Space only, with no pause at all: how fast decoding can go, no copies.

Target: no photo waits for decoding at a person's pace (the first one, decoded as the
dialog opens, is not counted), and every copy is in the dataset within a second of the last
key.

Run: `QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/review_labelling.py`
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import _common
from PIL import Image
from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QApplication

PHONE_WIDTH = 4032
KEYS = (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_1, Qt.Key.Key_Space)
TIMEOUT_S = 600.0


class Shown(QObject):
    """Remembers which photos the dialog has put on screen, and whether each waited."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: dict[int, bool] = {}

    @Slot(int, bool, float)
    def record(self, position: int, waited: bool, _seconds: float) -> None:
        self.positions[position] = waited


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100, help="photos to review (100)")
    parser.add_argument("--pace", type=float, default=0.3,
                        help="seconds between key presses of a fast labeller (0.3)")
    args = parser.parse_args()
    if args.quick:
        args.photos = 8
    data = _common.require_data(args.data)
    work = _common.workspace("review")
    dataset, small, phone = _folders(data, work, args.photos)
    QApplication([])
    from cheetahlion_gui.classify.sources import MODEL_IMAGENET
    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.session_driver import SessionDriver
    from cheetahlion_gui.settings import Settings

    window = MainWindow(Settings.load())
    window.resize(1280, 800)
    window.show()
    driver = SessionDriver(window, TIMEOUT_S)
    driver.open_dataset(dataset, by_clicking=False)
    page = window.classify_page
    page.sources_bar.model_source.setCurrentIndex(
        page.sources_bar.model_source.findData(MODEL_IMAGENET))
    runs = [("dataset photos (474 px)", small, args.pace, KEYS),
            (f"phone size ({PHONE_WIDTH} px)", phone, args.pace, KEYS),
            ("phone size, Space, no pause", phone, 0.0, (Qt.Key.Key_Space,))]
    results = [_review(driver, *run) for run in runs]
    window.close()
    rows = [(r["run"], r["photos"], r["pace_s"], r["total_s"], r["median_ms"], r["max_ms"],
             r["waited"], r["copies"], r["copies_done_after_s"]) for r in results]
    ok = all(r["waited"] == 0 and r["copies_done_after_s"] <= 1.0 for r in results[:2])
    text = _common.table(("run", "photos", "pace s", "total s", "median ms", "max ms",
                          "waited", "copies", "copies done s"), rows)
    _common.report(args, "Labelling the unsure ones: key press → next photo",
                   text + f"\ntarget: 0 waits at a person's pace, copies done ≤ 1 s after "
                   f"the last key: {_common.verdict(ok)}", {"runs": results, "pass": ok})
    return 0 if ok else 1


def _folders(data: Path, work: Path, photos: int) -> tuple[Path, Path, Path]:
    """A dataset of 50 photos per class, and two galleries of `photos` others (as they are,
    and re-encoded at phone size)."""
    dataset, small, phone = work / "dataset", work / "gallery", work / "gallery-phone"
    per_class = photos // 2
    for name, files in _common.class_photos(data).items():
        (dataset / name).mkdir(parents=True)
        for photo in files[:50]:
            shutil.copyfile(photo, dataset / name / photo.name)
        for photo in files[50:50 + per_class]:
            small.mkdir(exist_ok=True)
            shutil.copyfile(photo, small / f"{name}-{photo.name}")
    _common.progress(f"re-encoding {photos} photos at phone size")
    phone.mkdir()
    for photo in sorted(small.iterdir()):
        image = Image.open(photo).convert("RGB")
        size = (PHONE_WIDTH, round(image.height * PHONE_WIDTH / image.width))
        image.resize(size, Image.Resampling.BICUBIC).save(phone / photo.name, quality=90)
    return dataset, small, phone


def _review(driver: Any, name: str, gallery: Path, pace: float,
            keys: tuple[Qt.Key, ...]) -> dict[str, Any]:
    from cheetahlion_gui.session_driver import press_key

    page = driver.window.classify_page
    _common.progress(f"classifying {gallery.name}")
    driver.step(f"classifying {gallery.name}", lambda: page.open_sources([gallery]),
                page.classification_finished, page.runner)
    driver.wait(lambda: page.model.rowCount() > 0 and all(i.label for i in page.model.items()),
                "labelling every photo")
    page.model.set_unsure_threshold(1.01)  # every photo is up for review
    before = sum(1 for p in Path(page.session.dataset.root).rglob("*") if p.is_file())
    dialog = page.review_unsure()
    shown = Shown()
    dialog.photo_shown.connect(shown.record)
    driver.wait(lambda: 0 in shown.positions, "showing the first photo", poll_ms=1)
    driver.pause(pace)  # a person looks at the first photo too
    _common.progress(f"reviewing: {name}")
    latencies, copies = [], 0
    first_key = time.perf_counter()
    for position in range(len(dialog.items)):
        key = keys[position % len(keys)]
        copies += key != Qt.Key.Key_Space
        started = time.perf_counter()
        press_key(dialog, key)
        if position + 1 < len(dialog.items):
            driver.wait(lambda p=position + 1: p in shown.positions, "showing the next photo",
                        poll_ms=1)
            QApplication.processEvents()  # the paint
            latencies.append(time.perf_counter() - started)
            driver.pause(pace - (time.perf_counter() - started))
    last_key = time.perf_counter()
    driver.wait(lambda: dialog.queue.idle, "adding the copies", poll_ms=1)
    done_after = time.perf_counter() - last_key
    added = sum(1 for p in Path(page.session.dataset.root).rglob("*") if p.is_file()) - before
    assert added == copies == dialog.queue.added, (added, copies, dialog.queue.added)
    dialog.close_button.click()
    waited = sum(1 for position, w in shown.positions.items() if w and position > 0)
    return {"run": name, "photos": len(dialog.items), "pace_s": pace,
            "median_ms": round(_common.median(latencies) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1), "waited": waited,
            "waited_at": sorted(p for p, w in shown.positions.items() if w and p > 0),
            "total_s": round(last_key - first_key, 1), "copies": copies,
            "copies_done_after_s": round(done_after, 2)}


if __name__ == "__main__":
    raise SystemExit(main())
