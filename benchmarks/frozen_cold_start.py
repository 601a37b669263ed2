"""Cold start of the frozen app vs the same app from source: time to the first painted window.

Each side is a fresh process started with `--exit-after-paint`, offscreen: the app prints
`painted at <epoch seconds>` once its first paint is done, and the time from just before the
process was started to that moment is its cold start (what it does while quitting is not
counted). Frozen: `dist/cheetahlion/cheetahlion`; source: `python -m cheetahlion_gui.app`
from the virtual environment. One untimed start of each side first, so both read their files
from the page cache; then the sides alternate for --repeats runs each and the medians are
compared. Target: frozen ≤ 1.2 × source. Build the bundle first: `make package`.

Run: `.venv/bin/python benchmarks/frozen_cold_start.py`
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parents[1]
FROZEN = ROOT / "dist" / "cheetahlion" / "cheetahlion"
SOURCE = (sys.executable, "-m", "cheetahlion_gui.app")
TARGET = 1.2


def seconds_to_first_paint(command: tuple[str, ...]) -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    started = time.time()
    result = subprocess.run([*command, "--exit-after-paint"], capture_output=True, text=True,
                            cwd=ROOT, env=env, check=True, timeout=300)
    for line in result.stdout.splitlines():
        if line.startswith("painted at "):
            return float(line.removeprefix("painted at ")) - started
    raise RuntimeError(f"{command[0]} printed no 'painted at' line:\n{result.stdout}")


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not FROZEN.exists():
        sys.exit(f"error: no bundle at {FROZEN.parent}: build it first with `make package`.")
    _common.workspace("frozen-cold-start")
    repeats = 1 if args.quick else args.repeats
    sides = {"frozen": (str(FROZEN),), "source": SOURCE}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for name, command in sides.items():
        _common.progress(f"untimed first start: {name}")
        seconds_to_first_paint(command)
    for run in range(repeats):
        for name, command in sides.items():
            times[name].append(seconds_to_first_paint(command))
            _common.progress(f"run {run + 1}/{repeats} {name}: {times[name][-1]:.2f} s")
    frozen, source = _common.median(times["frozen"]), _common.median(times["source"])
    ratio = frozen / source
    text = _common.table(
        ["measure", "frozen", "source", "ratio", "target", ""],
        [["time to first painted window (s)", frozen, source, ratio, f"≤ {TARGET}",
          _common.verdict(ratio <= TARGET)]])
    _common.report(args, "Frozen app cold start", text, {
        "frozen_seconds": times["frozen"], "source_seconds": times["source"],
        "frozen_median": frozen, "source_median": source, "ratio": ratio,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
