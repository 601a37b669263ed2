"""How long `scan_dataset` takes on 10,000 photos, and how much memory it needs.

The script first writes N JPEGs (default 10,000, half per class) into a temporary folder,
made from the dataset's real photos: each copy is one of 40 different pictures of its
source photo (5 crops: the whole photo and its four 70 % corners, x 8 flips/rotations),
re-encoded at quality 90 with its own JPEG comment. So no two files have the same bytes and,
up to 40 copies per photo (12,000 files for 300 photos), no two show the same picture to
the scan's near-duplicate check either; the only duplicates it reports are those already in
the source photos (some cheetah photos are near-duplicates of each other), times their
copies. Writing them is setup and is not timed.

Then `scan_dataset` runs in a fresh Python process per repeat, so that process's peak
resident memory (VmHWM on Linux; not `ru_maxrss`, which a child inherits from its parent,
see `_common.peak_rss_mib`) is the scan's own; the table shows it with the memory the
process held before the scan started (Python plus the engine's imports). The files were
just written, so they are read from the page cache: this is a warm-cache number. With
`--tracemalloc`, one more scan runs under tracemalloc to show Python's own peak allocations
(much slower; not timed).

Target: the scan of 10,000 photos takes well under a minute (it reads every file, decodes it
at reduced size, hashes it and builds the health report).

    .venv/bin/python benchmarks/scan_10k.py            # full run (about a minute or two)
    .venv/bin/python benchmarks/scan_10k.py --quick    # 400 files, checks the script
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _common
from PIL import Image

TARGET_SECONDS = 60.0
TRANSPOSES: tuple[Image.Transpose | None, ...] = (
    None, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270, Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE,
)
CROP_SHARE = 0.7
VARIANTS = 5 * len(TRANSPOSES)


# --- setup: the files -------------------------------------------------------------------------

def crop_box(size: tuple[int, int], which: int) -> tuple[int, int, int, int]:
    """The whole image (0) or one of its four corners at CROP_SHARE of each side (1-4)."""
    width, height = size
    if which == 0:
        return (0, 0, width, height)
    w, h = round(width * CROP_SHARE), round(height * CROP_SHARE)
    left = 0 if which in (1, 3) else width - w
    top = 0 if which in (1, 2) else height - h
    return (left, top, left + w, top + h)


def write_copies(photo: Path, folder: Path, numbers: list[int]) -> None:
    """Copy number k of `photo` is picture k % VARIANTS of it, saved as <number>.jpg."""
    with Image.open(photo) as opened:
        image = opened.convert("RGB")
    for copy, number in enumerate(numbers):
        variant = copy % VARIANTS
        picture = image.crop(crop_box(image.size, variant % 5))
        transpose = TRANSPOSES[variant // 5]
        if transpose is not None:
            picture = picture.transpose(transpose)
        picture.save(folder / f"{number:05d}.jpg", "JPEG", quality=90,
                     comment=f"cheetahlion scan benchmark {folder.name} {number}")


def generate(source: Path, count: int, target: Path) -> int:
    """Write `count` JPEGs into target/<class>/, shared out evenly across the classes."""
    classes = {name: photos for name, photos in _common.class_photos(source).items() if photos}
    if not classes:
        raise SystemExit(f"error: {source} has no photos to copy")
    jobs = []
    for position, (name, photos) in enumerate(classes.items()):
        folder = target / name
        folder.mkdir(parents=True)
        share = count // len(classes) + (1 if position < count % len(classes) else 0)
        for index, photo in enumerate(photos):
            numbers = list(range(index, share, len(photos)))
            if numbers:
                jobs.append((photo, folder, numbers))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(lambda job: write_copies(*job), jobs))
    return max(len(numbers) for _, _, numbers in jobs)


# --- the measured scan, in a process of its own ----------------------------------------------

def child(folder: Path, workers: int | None, trace: bool) -> None:
    from training.data.scanning import scan_dataset  # imported before the "before" measurement

    before = _common.resident_kib()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    dataset = scan_dataset(folder, workers=workers)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "seconds": seconds, "peak_rss_mib": _common.peak_rss_mib(),
        "rss_before_scan_mib": before / 1024 if before is not None else None,
        "images": len(dataset.images),
        "issues": dict(Counter(issue.kind for issue in dataset.report.issues)),
        "duplicate_groups": len(dataset.duplicate_groups),
        "images_in_duplicate_groups": sum(len(g) for g in dataset.duplicate_groups),
    }
    if trace:
        result["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps(result))


def scan_in_subprocess(folder: Path, workers: int | None, trace: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(folder)]
    if workers:
        command += ["--workers", str(workers)]
    if trace:
        command.append("--tracemalloc")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: the scan process failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--count", type=int, default=None,
                        help="files to generate and scan (default 10000; 400 with --quick)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="scans, each in a fresh process (default 2; 1 with --quick)")
    parser.add_argument("--workers", type=int, default=None,
                        help="scan_dataset's threads (default: the engine's own choice)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also run one scan under tracemalloc (Python's peak allocations)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workers, args.tracemalloc)
        return
    args.count = args.count or (400 if args.quick else 10_000)
    args.repeats = args.repeats or (1 if args.quick else 2)
    data = _common.require_data(args.data)
    work = _common.workspace("scan")

    folder = work / "photos"
    _common.progress(f"writing {args.count} JPEGs into {folder} ...")
    started = time.perf_counter()
    most_copies = generate(data, args.count, folder)
    generate_seconds = time.perf_counter() - started
    _common.progress(f"written in {generate_seconds:.1f} s (up to {most_copies} copies of a "
                     f"photo; {VARIANTS} distinct pictures each)")

    scans = []
    for repeat in range(args.repeats):
        scans.append(scan_in_subprocess(folder, args.workers, trace=False))
        _common.progress(f"scan {repeat + 1}/{args.repeats}: {scans[-1]['seconds']:.2f} s, "
                         f"peak RSS {scans[-1]['peak_rss_mib']:.0f} MiB")
    traced = scan_in_subprocess(folder, args.workers, trace=True) if args.tracemalloc else None

    seconds = _common.median([scan["seconds"] for scan in scans])
    peak = max(scan["peak_rss_mib"] for scan in scans)
    before = scans[0]["rss_before_scan_mib"]
    last = scans[-1]
    ratio = seconds / TARGET_SECONDS
    rows: list[list[object]] = [
        ["scan seconds (median)", seconds, f"< {TARGET_SECONDS:.0f}", f"{ratio:.3f}",
         _common.verdict(seconds < TARGET_SECONDS)],
        ["each scan (s)", " ".join(f"{scan['seconds']:.2f}" for scan in scans), "", "", ""],
        ["images/s", last["images"] / seconds, "", "", ""],
        ["peak RSS (MiB)", peak, "report", "", ""],
        ["RSS before the scan (MiB)", before if before is not None else "n/a", "", "", ""],
    ]
    if before is not None:
        rows.append(["peak RSS growth (MiB)", peak - before, "", "", ""])
    if traced:
        rows.append(["tracemalloc peak (MiB)", traced["tracemalloc_peak_mib"], "", "", ""])
    issues = ", ".join(f"{kind} {count}" for kind, count in sorted(last["issues"].items()))
    text = _common.table(["", "measured", "target", "measured / target", "result"], rows) + (
        f"\n{last['images']} of {args.count} files usable; health report: {issues or 'clean'}; "
        f"{last['duplicate_groups']} duplicate groups holding "
        f"{last['images_in_duplicate_groups']} files (the source photos already hold "
        "near-duplicates, and so do their copies). Warm page cache: the files were just written."
    )
    _common.report(args, f"scan_dataset on {args.count} JPEGs", text, {
        "count": args.count, "generate_seconds": generate_seconds,
        "copies_per_photo_max": most_copies, "distinct_pictures_per_photo": VARIANTS,
        "scans": scans, "tracemalloc_scan": traced, "median_seconds": seconds,
        "peak_rss_mib": peak, "target_seconds": TARGET_SECONDS,
        "pass": seconds < TARGET_SECONDS,
    })


if __name__ == "__main__":
    main()
