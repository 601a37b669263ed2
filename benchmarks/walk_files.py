"""The files two walks cross, counted by running them, side by side with another checkout.

A walk is what the app does between a click and what the user sees: "Start clicked → model
on disk → history row" (quick mode, 64 px, 10 photos per class) and "Classify a folder →
predictions shown" (the same photos, with the model just trained). A profiler set on the GUI
thread, on every Python thread, and on each job's worker thread as it starts (`Job.run`)
notes each file of this project (`training/`, `cheetahlion_gui/`) in which a function ran
between the click and the moment the row or the last prediction is on screen. That is the
honest count of "every file a walk crosses": helpers included, nothing chosen by hand.
(Thumbnails decode in a Qt thread pool whose threads are not traced: `thumbnails.py` is
counted from its GUI-thread side.) Each side runs in a fresh offscreen process.

Run: `.venv/bin/python benchmarks/walk_files.py --baseline ../baseline`
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, sys, threading, time
from pathlib import Path
root, data = Path(sys.argv[1]), Path(sys.argv[2])
seen = set()
prefixes = (f"{root}/training/", f"{root}/cheetahlion_gui/")

def profile(frame, event, arg):
    if event == "call":
        name = frame.f_code.co_filename
        if name.startswith(prefixes):
            seen.add(name.removeprefix(str(root) + "/"))

from PySide6.QtWidgets import QApplication
from cheetahlion_gui.jobs import runner
original_run = runner.Job.run
def traced_run(self):
    sys.setprofile(profile)
    try:
        original_run(self)
    finally:
        sys.setprofile(None)
runner.Job.run = traced_run
from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.settings import Settings

app = QApplication([])
window = MainWindow(Settings.load())
window.resize(1280, 800)
window.show()

def wait(condition, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.005)

def walk(action, done):
    seen.clear()
    threading.setprofile(profile)
    sys.setprofile(profile)
    action()
    wait(done)
    sys.setprofile(None)
    threading.setprofile(None)
    return sorted(seen)

wait(lambda: not window.warming_up)
window.open_dataset(data)
wait(lambda: window.session.dataset is not None and not window.data_page.runner.busy)
train = window.train_page
form = getattr(train, "form", train)
window.sidebar.setCurrentRow(1)
form.advanced.setChecked(True)
form.image_size.setValue(64)
walks = {}
walks["train"] = walk(train.start_button.click,
                      lambda: not train.runner.busy and len(window.session.runs) == 1
                      and train.history_panel.model.rowCount() == 1)
classify = window.classify_page
window.sidebar.setCurrentRow(3)
gallery = classify.model
walks["classify"] = walk(lambda: classify.open_sources([data]),
                         lambda: gallery.rowCount() > 0 and not classify.jobs.runner.busy
                         and all(item.label for item in gallery.items()))
print("walks " + json.dumps(walks), flush=True)
window.close()
"""


def walk_files(checkout: Path, data: Path, home: Path) -> dict[str, list[str]]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(checkout),
           "CHEETAHLION_HOME": str(home)}
    result = subprocess.run([sys.executable, "-c", PROBE, str(checkout), str(data)],
                            capture_output=True, text=True, cwd=checkout, env=env, timeout=900,
                            check=False)
    for line in result.stdout.splitlines():
        if line.startswith("walks "):
            return json.loads(line.removeprefix("walks "))
    raise RuntimeError(f"{checkout}: no walks line (exit {result.returncode}):\n"
                       f"{result.stdout}\n{result.stderr[-3000:]}")


def _count(files: list[str]) -> tuple[int, int]:
    gui = sum(name.startswith("cheetahlion_gui/") for name in files)
    return gui, len(files) - gui


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="another checkout of CheetahLion to compare with")
    args = parser.parse_args()
    workspace = _common.workspace("walk-files")
    data = _common.subset(_common.require_data(args.data), 10, workspace / "photos")
    sides = {"baseline": args.baseline.resolve(), "this": ROOT}
    walks = {}
    for name, checkout in sides.items():
        _common.progress(f"walking {name} ({checkout})")
        walks[name] = walk_files(checkout, data, workspace / f"home-{name}")
    rows = []
    for walk in ("train", "classify"):
        (gui_before, engine_before), (gui_after, engine_after) = (
            _count(walks[name][walk]) for name in sides)
        rows.append([walk, gui_before, engine_before, gui_before + engine_before,
                     gui_after, engine_after, gui_after + engine_after])
    text = _common.table(["walk", "GUI before", "engine before", "all before",
                          "GUI after", "engine after", "all after"], rows)
    for walk in ("train", "classify"):
        for name in sides:
            text += f"\n{walk} · {name}: " + " ".join(walks[name][walk])
    _common.report(args, "Files the walks cross (traced)", text,
                   {"walks": walks, "baseline": str(sides["baseline"])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
