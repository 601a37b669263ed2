"""A whole user session through the real window: the new code's time ÷ the old code's.

The issue: "A whole session on 1,500 photos (open → find likely mislabelled → quick train
→ evaluate → classify 1,000 other photos), new main ÷ old main, driven through the real
window offscreen: ≤ 0.35."

Setup (not timed): `--per-class` photos per class (default 750, so 1,500) and a gallery of
`--gallery` other photos (default 1,000) are written into a temporary folder, each a
different seeded picture of one of the real photos (`_photos.py`: random crop, flip,
brightness, JPEG quality), so no two files share their bytes and no content-hash cache can
answer one photo for another. Both sides read the same files.

Each side is a code tree: `--new` (default: the repository this script is in) and `--old`
(a checkout of the older code, e.g. `git worktree add /tmp/old-main 85f37c7`). For each run,
this script starts itself again (`--drive`) in a child process with PYTHONPATH and the
working folder set to that tree, Qt offscreen, OMP_WAIT_POLICY unset (as the app runs) and
a fresh, empty CHEETAHLION_HOME, so every run starts with cold caches and no run history.
The child builds the window as the app does, waits for its start-up warm-up, and clicks
through the five steps with the new tree's session driver (cheetahlion_gui/session_driver.py,
loaded from its file, so both sides are driven alike), timing each from its click until its
page is done; the start-up is shown too but is not in the total. With `--repeats N` the
sides take turns (old first, then new first, ...) and the medians are compared. Passing the
same tree as both sides shows the noise: on a 2-core machine with other work running (load
3) one such run gave 0.52, the quick training alone 52 s against 16 s, so measure on a
quiet machine.

Target: the total of the five steps, new ÷ old, ≤ 0.35.

    .venv/bin/python benchmarks/session_speed.py --old /tmp/old-main        # full run
    .venv/bin/python benchmarks/session_speed.py --old /tmp/old-main --quick  # ~1-2 min
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import _common
import _photos

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "cheetahlion_gui" / "session_driver.py"
STEPS = ("open", "find_mislabelled", "quick_train", "evaluate", "classify")
"""The driver's steps, in its order (it times these names)."""
TARGET = 0.35
QUICK_PER_CLASS, QUICK_GALLERY = 20, 30


def parse_args() -> argparse.Namespace:
    parser = _common.parser(__doc__)
    parser.add_argument("--new", type=Path, default=REPO,
                        help=f"the new code's tree (default: {REPO})")
    parser.add_argument("--old", type=Path, required=True,
                        help="the old code's tree, e.g. made with "
                             "`git worktree add /tmp/old-main <commit>`")
    parser.add_argument("--per-class", type=int, default=None,
                        help=f"photos per class (default 750; {QUICK_PER_CLASS} with --quick)")
    parser.add_argument("--gallery", type=int, default=None,
                        help=f"photos to classify (default 1000; {QUICK_GALLERY} with --quick)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="sessions per side, taking turns; medians compared (default 1)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds any one step may take before the run fails (default 1800)")
    args = parser.parse_args()
    args.per_class = args.per_class or (QUICK_PER_CLASS if args.quick else 750)
    args.gallery = args.gallery or (QUICK_GALLERY if args.quick else 1000)
    for side in ("new", "old"):
        tree = getattr(args, side).resolve()
        if not (tree / "cheetahlion_gui" / "main_window.py").is_file():
            sys.exit(f"error: --{side} {tree} is not a CheetahLion code tree "
                     "(no cheetahlion_gui/main_window.py)")
        setattr(args, side, tree)
    return args


def commit_of(tree: Path) -> str:
    """The tree's commit, with "+changes" when its files differ from it; "?" without git."""
    def git(*command: str) -> str:
        return subprocess.run(["git", "-C", str(tree), *command], capture_output=True,
                              text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def child_environment(tree: Path, home: Path) -> dict[str, str]:
    """The app's environment for one run: that tree's code, offscreen, a fresh home."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)  # the app leaves it unset (the tests set PASSIVE)
    env.update(PYTHONPATH=str(tree), QT_QPA_PLATFORM="offscreen",
               CHEETAHLION_HOME=str(home), HF_HUB_OFFLINE="1")
    return env


def run_session(side: str, tree: Path, run: int, folders: dict[str, Any], work: Path,
                timeout: float) -> dict[str, Any]:
    """One session in a child process on `tree`; the driver's results. Its stderr goes to a
    log file (the driver's own lines are echoed as progress); a failure exits with its tail."""
    home = work / f"home-{side}-{run}"
    home.mkdir()
    log, out = work / f"{side}-{run}.log", work / f"{side}-{run}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--drive",
               "--dataset", str(folders["dataset"]),
               "--images", str(folders["images"]), "--gallery", str(folders["gallery"]),
               "--gallery-images", str(folders["gallery_images"]), "--timeout", str(timeout)]
    _common.progress(f"{side} ({tree}), run {run + 1}: starting the app")
    with out.open("w") as stdout, log.open("w") as saved:
        child = subprocess.Popen(command, cwd=tree, env=child_environment(tree, home),
                                 stdout=stdout, stderr=subprocess.PIPE, text=True)
        # The driver times each step out itself; this ends a child that hangs outside one.
        killer = threading.Timer(timeout * (len(STEPS) + 1), child.kill)
        killer.start()
        for line in child.stderr:
            saved.write(line)
            if line.startswith("session:"):
                _common.progress(f"  {side}: {line[len('session:'):].strip()}")
        status = child.wait()
        killer.cancel()
    lines = out.read_text().splitlines()
    if status != 0 or not lines:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        sys.exit(f"error: the {side} session on {tree} failed (exit status {status}):\n{tail}")
    result = json.loads(lines[-1])
    if set(result["seconds"]) != set(STEPS):
        sys.exit(f"error: the driver timed {sorted(result['seconds'])}, not {list(STEPS)}")
    if Path(result["code"]) != tree:
        sys.exit(f"error: the {side} session ran the code in {result['code']}, not {tree}")
    return result


def make_folders(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Write the dataset and the gallery (not timed); their folders and image counts."""
    sources = _common.class_photos(_common.require_data(args.data))
    _common.progress(f"writing {args.per_class} photos per class and a gallery of "
                     f"{args.gallery} into {work / 'photos'}")
    started = time.perf_counter()
    dataset, gallery = _photos.make_photos(sources, args.per_class, args.gallery,
                                           work / "photos")
    files = sorted(p for p in (work / "photos").rglob("*.jpg"))
    _common.warm_file_cache(files)
    _common.progress(f"  {len(files)} photos written in {time.perf_counter() - started:.1f} s")
    return {"dataset": dataset, "images": args.per_class * len(sources), "gallery": gallery,
            "gallery_images": args.gallery}


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median seconds per step, of the total and of the start-up, over a side's runs."""
    keys = {step: lambda r, s=step: r["seconds"][s] for step in STEPS}
    keys["total"] = lambda r: r["total_seconds"]
    keys["start"] = lambda r: r["start_seconds"]
    return {name: _common.median([key(r) for r in runs]) for name, key in keys.items()}


def summarise(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]
              ) -> tuple[str, dict[str, Any]]:
    """The table (step, old s, new s, new ÷ old) and the JSON results."""
    old, new = medians(runs["old"]), medians(runs["new"])
    ratios = {name: new[name] / old[name] if old[name] else float("nan") for name in old}
    ok = ratios["total"] <= TARGET
    rows: list[list[object]] = [[step, old[step], new[step], ratios[step], ""] for step in STEPS]
    rows.append(["total", old["total"], new["total"], ratios["total"],
                 f"≤ {TARGET} {_common.verdict(ok)}"])
    rows.append(["start-up (not in total)", old["start"], new["start"], ratios["start"], ""])
    produced = {side: runs[side][-1]["produced"] for side in runs}
    text = _common.table(["step", "old s", "new s", "new ÷ old", "target"], rows) + (
        f"\nold: {args.old} ({commit_of(args.old)}); new: {args.new} ({commit_of(args.new)}); "
        f"{args.per_class} photos per class, {args.gallery} to classify, "
        f"median of {args.repeats} run(s) per side"
        + "".join(f"\n{side} produced: {json.dumps(produced[side])}" for side in produced))
    return text, {
        "per_class": args.per_class, "gallery": args.gallery, "repeats": args.repeats,
        "old": {"tree": str(args.old), "commit": commit_of(args.old), "median_seconds": old,
                "runs": runs["old"]},
        "new": {"tree": str(args.new), "commit": commit_of(args.new), "median_seconds": new,
                "runs": runs["new"]},
        "ratios": ratios, "target": TARGET, "passed": ok,
    }


def main() -> None:
    if sys.argv[1:2] == ["--drive"]:
        drive(sys.argv[2:])
    args = parse_args()
    work = _common.workspace("session-speed")
    folders = make_folders(args, work)
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for run in range(args.repeats):
        order = ("old", "new") if run % 2 == 0 else ("new", "old")
        for side in order:
            runs[side].append(run_session(side, getattr(args, side), run, folders, work,
                                          args.timeout))
    text, results = summarise(args, runs)
    _common.report(args, f"A whole session through the window on {folders['images']} photos "
                         f"(+{args.gallery} classified), new ÷ old", text, results)


# --- the child: one session on the tree in PYTHONPATH --------------------------------------


def load_driver() -> Any:
    """The new tree's session driver, from its file: the child's PYTHONPATH is the tree
    under test, which may be older and have none. It imports only Qt at load time and
    reaches the window's controls by names both trees have."""
    spec = importlib.util.spec_from_file_location("session_driver", DRIVER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["session_driver"] = module
    spec.loader.exec_module(module)
    return module


def build_window(driving: Any, timeout: float) -> tuple[Any, float]:
    """(driver, seconds until shown and warmed up): the window made the way
    `cheetahlion_gui.app` makes it: caches and logging configured, the application styled,
    settings loaded."""
    from cheetahlion_gui import app as entry

    started = time.perf_counter()
    for name in ("_configure_caches", "_configure_logging"):  # as app._run does
        configure = getattr(entry, name, None)
        if configure is not None:
            configure()
    from PySide6.QtWidgets import QApplication

    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.resources import icon, style_sheet
    from cheetahlion_gui.settings import Settings

    application = QApplication.instance() or QApplication([sys.argv[0]])
    application.setApplicationName("CheetahLion")
    application.setOrganizationName("CheetahLion")
    application.setWindowIcon(icon("cheetahlion.svg"))
    application.setStyleSheet(style_sheet())
    window = MainWindow(Settings.load())
    window.show()
    driver = driving.SessionDriver(window, timeout)
    driver.wait(window.isVisible, "showing the window")
    driver.wait_for_start_up(background=False)
    return driver, time.perf_counter() - started


def checked_steps(driver: Any, failed: type[Exception], args: argparse.Namespace
                  ) -> dict[str, Any]:
    """The five steps, each checked for its work (`failed` if not); what each produced."""
    window = driver.window
    driver.open_dataset(args.dataset)
    dataset = window.session.dataset
    if len(dataset.images) != args.images or not dataset.report.can_train:
        raise failed(f"open: {len(dataset.images)} images listed, {args.images} expected "
                     f"(can train: {dataset.report.can_train})")
    driver.find_mislabelled()
    train = window.train_page
    driver.go_to("Train")
    if train.form.mode.currentData() != "quick":
        raise failed(f"quick_train: the form starts in {train.form.mode.currentData()} mode")
    driver.train("quick_train")
    run, model = window.session.runs[-1], window.session.model_path
    if run.model_path != model or not Path(model).is_file():
        raise failed(f"quick_train: the new run's model {model} is not in use")
    driver.evaluate()
    report, accuracy = window.evaluate_page.report, window.evaluate_page.accuracy_label
    if "accuracy" not in accuracy.text().lower():
        raise failed(f"evaluate: no accuracy shown ({accuracy.text()!r})")
    classify = window.classify_page
    driver.go_to("Classify")
    if classify.sources_bar.model_source.currentData() != "run":
        raise failed("classify: the model chooser is not on the chosen run's model")
    driver.classify(args.gallery)
    items = classify.model.items()
    bad = [item for item in items if item.error or not item.label]
    if len(items) != args.gallery_images or bad:
        raise failed(f"classify: {len(items)} rows, {args.gallery_images} expected; "
                     f"{len(bad)} without a label, e.g. {bad[:1]}")
    right = sum(Path(item.path).name.startswith(f"{item.label}-") for item in items)
    return {"open": {"images": len(dataset.images), "classes": list(dataset.classes)},
            "find_mislabelled": {"ranked": window.data_page.suspects_view.model.rowCount()},
            "quick_train": {"val_accuracy": run.best_val_accuracy,
                            "history_rows": train.history_panel.model.rowCount()},
            "evaluate": {"accuracy": report.accuracy, "images": report.images},
            "classify": {"rows": len(items), "accuracy_by_file_name": right / len(items),
                         "summary": classify.file_actions.summary.text()}}


def drive(argv: list[str]) -> None:
    """`--drive`: one session; one line of JSON on stdout (seconds per step, their total,
    the start-up, what each step produced), or status 1 and the reason on stderr."""
    import cheetahlion_gui

    parser = argparse.ArgumentParser(description="one session through the window")
    for name in ("--dataset", "--gallery"):
        parser.add_argument(name, type=Path, required=True)
    for name in ("--images", "--gallery-images"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    driving = load_driver()
    try:
        driver, start_seconds = build_window(driving, args.timeout)
        produced = checked_steps(driver, driving.DriverFailed, args)
        driver.window.close()
    except driving.DriverFailed as failure:
        print(f"session: FAILED: {failure}", file=sys.stderr, flush=True)
        os._exit(1)
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    for name in STEPS:
        print(f"session: {name}: {driver.seconds[name]:.2f} s {produced[name]}",
              file=sys.stderr, flush=True)
    print(json.dumps({"code": str(Path(cheetahlion_gui.__file__).resolve().parents[1]),
                      "start_seconds": start_seconds,
                      "seconds": {name: driver.seconds[name] for name in STEPS},
                      "total_seconds": sum(driver.seconds[name] for name in STEPS),
                      "produced": produced}), flush=True)
    # The window is closed and its workers ended; skip tearing Qt and torch down, which
    # only adds time (and, in some Qt versions, a crash at exit) to a finished measurement.
    os._exit(0)


if __name__ == "__main__":
    main()
