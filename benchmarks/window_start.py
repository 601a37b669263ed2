"""The window's cold start, side by side with another checkout: time and memory to the first
painted window, and to the end of the engine's warm-up (ready to train).

Each run is a fresh `python -c` process, offscreen, that starts the app as `cheetahlion`
does (`cheetahlion_gui.app.main(["--exit-after-paint"])`) with a probe on its first paint:
it notes the seconds since the process was started, the resident memory (VmRSS, and its peak
VmHWM), and whether torch is loaded; then it waits until the window's warm-up has loaded the
engine and notes the same again. The sides alternate, one untimed start of each first (the
page cache), --repeats runs each; medians are compared. `--baseline DIR` is another checkout
(e.g. `git worktree add ../baseline <commit>`) run with this same virtual environment.

Run: `.venv/bin/python benchmarks/window_start.py --baseline ../baseline`
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, sys, time
started = float(sys.argv[1])

def memory():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}

def snapshot():
    return {"seconds": time.time() - started, **memory(), "torch": "torch" in sys.modules}

from cheetahlion_gui import self_test
from PySide6.QtCore import QTimer
result = {}

def painted(first_paint):
    result["paint"] = snapshot()
    def poll():
        if first_paint.window.warming_up:
            QTimer.singleShot(20, poll)
            return
        result["ready"] = snapshot()
        print("probe " + json.dumps(result), flush=True)
        first_paint.window.close()
    poll()

self_test.FirstPaint._painted = painted
from cheetahlion_gui.app import main
sys.exit(main(["--exit-after-paint"]))
"""


def start_once(checkout: Path, home: Path) -> dict[str, dict[str, float]]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(checkout),
           "CHEETAHLION_HOME": str(home)}
    started = time.time()
    result = subprocess.run([sys.executable, "-c", PROBE, str(started)], capture_output=True,
                            text=True, cwd=checkout, env=env, timeout=300, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("probe "):
            return json.loads(line.removeprefix("probe "))
    raise RuntimeError(f"{checkout}: no probe line (exit {result.returncode}):\n"
                       f"{result.stdout}\n{result.stderr[-2000:]}")


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="another checkout of CheetahLion to compare with")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    home = _common.workspace("window-start")
    sides = {"baseline": args.baseline.resolve(), "this": ROOT}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in sides}
    for name, checkout in sides.items():
        _common.progress(f"untimed first start: {name}")
        start_once(checkout, home)
    repeats = 1 if args.quick else args.repeats
    for run in range(repeats):
        for name, checkout in sides.items():
            runs[name].append(start_once(checkout, home))
            _common.progress(f"run {run + 1}/{repeats} {name}: {runs[name][-1]}")
    rows = []
    for moment in ("paint", "ready"):
        for key, unit in (("seconds", "s"), ("VmRSS", "MiB"), ("VmHWM", "MiB")):
            before, after = (_common.median([run[moment][key] for run in runs[name]])
                             for name in sides)
            rows.append([moment, f"{key} ({unit})", before, after, after / before])
    torch_at_paint = {name: sum(bool(run["paint"]["torch"]) for run in runs[name])
                      for name in sides}
    text = _common.table(["moment", "measure", "baseline", "this", "this/baseline"], rows)
    text += (f"\nruns with torch loaded at the first paint: {torch_at_paint} of {repeats}; "
             "'ready' = the warm-up has loaded the engine")
    _common.report(args, "Window cold start", text, {"runs": runs, "rows": rows,
                                                      "baseline": str(sides["baseline"])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
