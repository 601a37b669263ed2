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
`_session_driver.py` starts in a child process with PYTHONPATH and the working folder set to
that tree, Qt offscreen, OMP_WAIT_POLICY unset (as the app runs) and a fresh, empty
CHEETAHLION_HOME, so every run starts with cold caches and no run history. The driver builds
the window as the app does, waits for its start-up warm-up, and clicks through the five
steps, timing each from its click until its page is done (see the driver's docstring);
the start-up is shown too but is not in the total. With `--repeats N` the sides take turns
(old first, then new first, ...) and the medians are compared. Passing the same tree as
both sides shows the noise: on a 2-core machine with other work running (load 3) one such
run gave 0.52, the quick training alone 52 s against 16 s, so measure on a quiet machine.

Target: the total of the five steps, new ÷ old, ≤ 0.35.

    .venv/bin/python benchmarks/session_speed.py --old /tmp/old-main        # full run
    .venv/bin/python benchmarks/session_speed.py --old /tmp/old-main --quick  # ~1-2 min
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import _common
import _photos

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("_session_driver.py")
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
    command = [sys.executable, str(DRIVER), "--dataset", str(folders["dataset"]),
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


if __name__ == "__main__":
    main()
