"""What the benchmark scripts share: arguments, an isolated home folder, tables, JSON.

Not a benchmark itself. Each script in this folder runs standalone
(`.venv/bin/python benchmarks/<name>.py`); Python puts this folder on `sys.path` first, which
is how they import this module.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cheetah-lion"
"""`../shared/datasets/cheetah-lion` seen from the repository root."""
_START: dict[str, float] = {}


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    result = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    result.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="dataset folder with one sub-folder per class "
                             f"(default: {DEFAULT_DATA})")
    result.add_argument("--quick", action="store_true",
                        help="tiny settings that only check the script works (numbers meaningless)")
    result.add_argument("--json", nargs="?", const="-", metavar="PATH",
                        help="write the results as JSON to PATH, or to stdout (instead of the "
                             "table) when no PATH is given")
    return result


def workspace(name: str) -> Path:
    """A temporary folder for this run, removed at exit; CHEETAHLION_HOME points inside it.

    The engine keeps run records, models and caches under CHEETAHLION_HOME, so a benchmark
    never touches the real user's data folder.
    """
    root = Path(tempfile.mkdtemp(prefix=f"cheetahlion-bench-{name}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    home = root / "home"
    home.mkdir()
    if hasattr(os, "getloadavg"):
        _START["load_average_1min"] = round(os.getloadavg()[0], 2)
    os.environ["CHEETAHLION_HOME"] = str(home)
    return root


def fresh_home(root: Path, name: str, graphs: Path) -> Path:
    """A new, empty CHEETAHLION_HOME at root/homes/<name>, made the current one, whose
    `cache/onnx` is the shared folder `graphs`.

    A fresh home is the only clean way to a fresh feature store: the engine opens the store
    once per process and location, so deleting its file under it would not do. The ONNX
    graph cache is shared so that exporting the graph (a one-off cost the scripts report
    on its own) is paid once, before any clock, and not by whichever side runs first.
    """
    home = root / "homes" / name
    (home / "cache").mkdir(parents=True)
    graphs.mkdir(parents=True, exist_ok=True)
    (home / "cache" / "onnx").symlink_to(graphs.resolve(), target_is_directory=True)
    os.environ["CHEETAHLION_HOME"] = str(home)
    return home


def folder_bytes(folder: Path) -> int:
    """The size of every file under `folder` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def _status_kib(field: str) -> int | None:
    """A memory figure of this process from /proc/self/status (Linux), in KiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def resident_kib() -> int | None:
    """This process's resident memory now (Linux), in KiB."""
    return _status_kib("VmRSS")


def peak_rss_mib() -> float:
    """This process's own peak resident memory so far, in MiB.

    On Linux this is VmHWM, not `ru_maxrss`: a child started by `subprocess` inherits its
    parent's peak in `ru_maxrss` (the kernel carries the old address space's high-water mark
    across fork and exec), so a child of a parent that held 1 GiB reports at least 1 GiB
    however little it uses itself. VmHWM belongs to the child's own address space. Elsewhere
    `ru_maxrss` is the only figure there is.
    """
    own = _status_kib("VmHWM")
    if own is not None:
        return own / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / 1024 if sys.platform == "darwin" else peak) / 1024  # bytes on macOS


def add_per_class_option(parser: argparse.ArgumentParser, quick_default: int) -> None:
    """`--per-class N`: use only the first N photos of each class (`quick_default` with
    --quick, all of them otherwise)."""
    parser.add_argument("--per-class", type=int, default=None,
                        help="use only the first N photos of each class "
                             f"(default: all; {quick_default} with --quick)")
    parser.set_defaults(quick_per_class=quick_default)


def prepare_data(args: argparse.Namespace, name: str) -> tuple[Path, Path]:
    """(workspace, dataset folder): the checked dataset, or the subset --per-class asks for."""
    if args.quick:
        args.per_class = args.per_class or args.quick_per_class
    data = require_data(args.data)
    work = workspace(name)
    return work, subset(data, args.per_class, work / "data")


def require_data(folder: Path) -> Path:
    """The dataset folder, or exit with a message saying how to get past it."""
    if not folder.is_dir() or not any(p.is_dir() for p in folder.iterdir()):
        sys.exit(
            f"error: dataset folder {folder} is missing or has no class folders.\n"
            "Pass --data with a folder holding one sub-folder of photos per class "
            "(the project's benchmarks use ../shared/datasets/cheetah-lion)."
        )
    return folder.resolve()


def class_photos(folder: Path) -> dict[str, list[Path]]:
    """{class name: its JPEG/PNG files, sorted} for a one-folder-per-class dataset."""
    suffixes = {".jpg", ".jpeg", ".png"}
    return {
        d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in suffixes)
        for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")
    }


def subset(folder: Path, per_class: int | None, target: Path) -> Path:
    """`folder` itself, or a copy of the first `per_class` photos of each class in `target`.

    The engine only reads the dataset folder (its records go under CHEETAHLION_HOME), so the
    full dataset is used in place; a subset has to be a folder of its own.
    """
    if per_class is None:
        return folder
    for name, photos in class_photos(folder).items():
        (target / name).mkdir(parents=True, exist_ok=True)
        for photo in photos[:per_class]:
            shutil.copyfile(photo, target / name / photo.name)
    return target


def warm_file_cache(paths: Sequence[Path]) -> None:
    """Read every file once so no side pays for the first read from disk."""
    for path in paths:
        Path(path).read_bytes()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def environment() -> dict[str, Any]:
    """The machine and libraries, and the load average at the start and end of the run."""
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1min_at_start"] = _START.get("load_average_1min")
        info["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    return info


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table; floats are shown with three significant decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(args: argparse.Namespace, title: str, text: str, results: dict[str, Any]) -> None:
    """Print the table (unless JSON goes to stdout) and write the JSON where asked."""
    results = {"benchmark": title, "quick": args.quick, **results,
               "environment": environment()}
    if args.json == "-":
        print(json.dumps(results, indent=1))
        return
    environment_ = results["environment"]
    load = environment_.get("load_average_1min_at_end")
    print(f"{title}{'  (--quick: numbers are not meaningful)' if args.quick else ''}")
    print(text)
    if load is not None:
        print(f"load average (1 min): {environment_.get('load_average_1min_at_start')} at the "
              f"start, {load} at the end, on {os.cpu_count()} CPUs "
              "(other work running at the same time skews these numbers)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"results written to {args.json}")


def progress(message: str) -> None:
    """A line of progress on stderr, so stdout stays the table or the JSON."""
    print(message, file=sys.stderr, flush=True)
