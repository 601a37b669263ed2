"""A fine-tune epoch through the app vs the bare engine `fit()`, four sides in one run.

Why four: the app trains in a child process (`training.fitting.isolated`), so "slower in the
app" can mean slower in a *new process* (first-epoch effects: oneDNN primitives, the
allocator, thread pools), slower through *the isolation machinery* (the queue, the cancel
flag), or slower *beside a live window* (plots, events, the GUI process's CPU use). Each side
adds one of those:

- main: `fit()` in this benchmark's main thread (a warm process: the baseline, as before);
- fresh: `fit()` in a fresh `python -c` process that imports the engine, scans the dataset
  and fits (its epoch seconds, and its wall time including the imports);
- isolated: `fit_in_child_process` called from this script's main thread: a new child
  process per run, as the Train page used it before it kept one ready;
- warm: a `TrainingProcess` started ahead with the run's config as its warm-up and waited
  for, then given the run: the app's path now, from a plain script;
- app: the real main window, offscreen: Train page, fine-tune, 1 epoch, Start, as a user.
  Before each side the window idles `--pause` seconds and until the training process it
  keeps for the next run is ready (its warm-up would otherwise compete with that side).

Every side runs `TrainConfig.finetune(epochs=1, augment=False, early_stopping_patience=0)`
(the app's form set to the same) on the same photos and reports the epoch's own
`EpochEnded.seconds` (first training batch to the end of validation). The sides take turns
in a rotating order, `--repeats` rounds, and the medians are compared. Target: app / main
<= 1.05.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/finetune_in_app.py
    .venv/bin/python benchmarks/finetune_in_app.py --per-class 40 --sides main,isolated
    .venv/bin/python benchmarks/finetune_in_app.py --quick     # checks the script only
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import _common

RATIO_TARGET = 1.05
SIDES = ("main", "fresh", "isolated", "warm", "app")
REPO = Path(__file__).resolve().parents[1]
FRESH_CHILD = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from training.data.scanning import scan_dataset
from training.records.config import TrainConfig
from training.fitting.trainer import fit
config = TrainConfig.finetune(epochs=1, augment=False, early_stopping_patience=0,
                              image_size=int(sys.argv[2]) or None)
imported = time.perf_counter()
result = fit(config, scan_dataset(Path(sys.argv[1])))
print(json.dumps({"seconds": result.history[0].seconds,
                  "imports_seconds": imported - started}))
"""
"""What the fresh process runs: nothing but the imports, a scan and `fit`."""


def config(image_size: int | None) -> Any:
    from training.records.config import TrainConfig

    return TrainConfig.finetune(epochs=1, augment=False, early_stopping_patience=0,
                                image_size=image_size)


class EpochCpu:
    """A callback that measures this process's CPU seconds during the first epoch: from the
    first `StepEnded` it hears to the `EpochEnded` (the GUI's share of the epoch, for the app).
    """

    def __init__(self) -> None:
        self.started: float | None = None
        self.seconds = float("nan")

    def __call__(self, event: object) -> None:
        from training.records.events import EpochEnded, StepEnded

        if isinstance(event, StepEnded) and self.started is None:
            self.started = time.process_time()
        elif isinstance(event, EpochEnded) and self.started is not None:
            self.seconds = time.process_time() - self.started


Side = Callable[[], tuple[float, float]]
"""Runs one side once: (epoch seconds, this process's CPU seconds during the epoch or nan)."""


def _timed(run: Side) -> dict[str, float]:
    """Run a side: its epoch seconds, wall seconds, and CPU seconds spent by this process
    during the whole run and during the epoch (the GUI's share, for the app)."""
    own = time.process_time()
    started = time.perf_counter()
    seconds, epoch_cpu = run()
    return {"seconds": seconds, "wall_seconds": time.perf_counter() - started,
            "parent_cpu_seconds": time.process_time() - own,
            "parent_epoch_cpu_seconds": epoch_cpu}


def side_main(dataset: Any, image_size: int | None) -> tuple[float, float]:
    from training.fitting.trainer import fit

    return fit(config(image_size), dataset).history[0].seconds, float("nan")


def side_fresh(folder: Path, image_size: int | None) -> tuple[float, float]:
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_CHILD, str(folder), str(image_size or 0)],
        cwd=REPO, check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
            str(REPO), os.environ.get("PYTHONPATH")]))})
    return json.loads(completed.stdout.splitlines()[-1])["seconds"], float("nan")


def side_isolated(dataset: Any, image_size: int | None) -> tuple[float, float]:
    from training.fitting.isolated import fit_in_child_process

    cpu = EpochCpu()
    result = fit_in_child_process(config(image_size), dataset, callback=cpu)
    return result.history[0].seconds, cpu.seconds


class WarmSide:
    """The `warm` side: a process started and warmed up before the side's clock starts."""

    def __init__(self, image_size: int | None) -> None:
        self.image_size = image_size
        self.process: Any = None

    def prepare(self) -> None:
        from training.fitting.isolated import TrainingProcess

        self.process = TrainingProcess(warm_up=config(self.image_size))
        if not self.process.wait_ready(600):
            raise RuntimeError("the training process did not get ready in 10 minutes")

    def run(self, dataset: Any) -> tuple[float, float]:
        cpu = EpochCpu()
        result = self.process.fit(config(self.image_size), dataset, callback=cpu)
        return result.history[0].seconds, cpu.seconds


class App:
    """The real main window, offscreen, with the dataset open; trains from the Train page."""

    def __init__(self, folder: Path) -> None:
        from gui_responsiveness import make_window
        from PySide6.QtWidgets import QApplication

        QApplication.instance() or QApplication([sys.argv[0]])
        self.driver = make_window()  # and waits for the start-up's background work
        self.window = self.driver.window
        self.driver.open_dataset(folder, by_clicking=False)
        self.driver.pause(3.0)  # the Data step's first paint and thumbnails settle first

    @property
    def dataset(self) -> Any:
        return self.window.session.dataset

    def idle(self, seconds: float) -> None:
        """Let the window's event loop run (as it does between a user's clicks), then until
        the training process kept for the next run has warmed up."""
        self.driver.pause(seconds)
        keeper = self.window.training_processes
        self.driver.wait(lambda: keeper.waiting is None or keeper.waiting.is_ready()
                         or not keeper.waiting.is_alive(), "warming the kept process",
                         timeout_s=600)

    def finetune(self, image_size: int | None) -> tuple[float, float]:
        """One epoch started from the Train page: (its seconds, the GUI process's CPU
        seconds from its first step to its end, as the page heard of them)."""
        page = self.window.train_page
        cpu, show_event = EpochCpu(), page.progress_panel.show_event

        def heard(event: object) -> None:
            cpu(event)
            show_event(event)

        self.window.sidebar.setCurrentRow(1)
        self.driver.set_train_settings("finetune", epochs=1, augment=False, patience=0,
                                       image_size=image_size or 0)
        before = len(self.window.session.runs)
        page.progress_panel.show_event = heard  # type: ignore[method-assign]
        try:
            self.driver.step("fine-tuning", page.start, page.training_finished, page.runner)
        finally:
            del page.progress_panel.show_event
        runs = self.window.session.runs
        if len(runs) <= before or not runs[-1].epochs:
            raise RuntimeError("the fine-tune through the window did not finish an epoch")
        return runs[-1].epochs[0]["seconds"], cpu.seconds

    def close(self) -> None:
        self.window.close()


def run_sides(args: Any, folder: Path) -> dict[str, list[dict[str, float]]]:
    """Every asked side `args.repeats` times, the order rotating from round to round."""
    from training.data.scanning import scan_dataset

    sides = [s for s in SIDES if s in args.sides]
    app = App(folder) if "app" in sides else None
    dataset = app.dataset if app is not None else scan_dataset(folder)
    image_size = 64 if args.quick else args.image_size
    warm = WarmSide(image_size)
    runners: dict[str, Side] = {
        "main": lambda: side_main(dataset, image_size),
        "fresh": lambda: side_fresh(folder, image_size),
        "isolated": lambda: side_isolated(dataset, image_size),
        "warm": lambda: warm.run(dataset),
        "app": lambda: app.finetune(image_size) if app is not None else (0.0, 0.0),
    }
    results: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    if "main" in sides:
        _common.progress("one untimed fit in this process first: `main` is a warm process")
        runners["main"]()
    for repeat in range(args.repeats):
        shift = repeat % len(sides)
        for side in sides[shift:] + sides[:shift]:
            if app is not None:
                app.idle(args.pause)  # the window lives between runs, as for a user
            if side == "warm":
                warm.prepare()
            outcome = _timed(runners[side])
            outcome["load_average"] = round(os.getloadavg()[0], 2)
            results[side].append(outcome)
            _common.progress(
                f"round {repeat + 1}/{args.repeats} {side:8s}: epoch {outcome['seconds']:.2f} s"
                f", wall {outcome['wall_seconds']:.1f} s, this process's CPU "
                f"{outcome['parent_cpu_seconds']:.1f} s (in the epoch "
                f"{outcome['parent_epoch_cpu_seconds']:.2f} s), load {outcome['load_average']}")
    if app is not None:
        app.close()
    return results


def summarise(args: Any, results: dict[str, list[dict[str, float]]]) -> None:
    medians = {side: _common.median([r["seconds"] for r in runs])
               for side, runs in results.items()}
    rows = []
    for side, runs in results.items():
        ratio = medians[side] / medians["main"] if "main" in medians else float("nan")
        rows.append([side, medians[side], f"{ratio:.3f}",
                     _common.median([r["wall_seconds"] for r in runs]),
                     _common.median([r["parent_cpu_seconds"] for r in runs]),
                     " ".join(f"{r['seconds']:.2f}" for r in runs)])
    text = _common.table(["side", "epoch s (median)", "/ main", "wall s", "this process CPU s",
                          "each run (s)"], rows)
    verdicts: dict[str, Any] = {}
    if "app" in medians and "main" in medians:
        ratio = medians["app"] / medians["main"]
        verdicts = {"app_over_main": ratio, "pass": ratio <= RATIO_TARGET}
        text += (f"\napp / main = {ratio:.3f} (target <= {RATIO_TARGET:.2f}): "
                 f"{_common.verdict(ratio <= RATIO_TARGET)}")
    if "app" in medians and "fresh" in medians:
        verdicts["app_over_fresh"] = medians["app"] / medians["fresh"]
        text += f"\napp / fresh = {verdicts['app_over_fresh']:.3f}"
    _common.report(args, "fine-tune epoch: in the app vs bare fit()", text, {
        "repeats": args.repeats, "per_class": args.per_class, "image_size": args.image_size,
        "runs": results, "median_seconds": medians, **verdicts, "ratio_target": RATIO_TARGET,
    })


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="rounds of every side (default 5; 1 with --quick)")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"comma-separated subset of {','.join(SIDES)}")
    parser.add_argument("--image-size", type=int, default=None,
                        help="train at this size instead of the backbone's (investigating)")
    parser.add_argument("--pause", type=float, default=3.0,
                        help="seconds the window idles before each side (default 3)")
    _common.add_per_class_option(parser, quick_default=8)
    args = parser.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = set(args.sides) - set(SIDES)
    if unknown:
        parser.error(f"unknown sides: {', '.join(sorted(unknown))}")
    _work, folder = _common.prepare_data(args, "in-app")
    summarise(args, run_sides(args, folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
