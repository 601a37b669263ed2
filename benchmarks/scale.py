"""Peak memory of training on 5,000 vs 50,000 images: it must not grow with the dataset.

Generates a synthetic dataset of 50,000 small JPEGs (48 px, two tinted classes of noise) in
a temporary folder, and a 5,000-image one made of hard links to the first tenth of it. For
each size, fresh processes (so one run's memory never counts in another's) scan it and
train at 64 px with the engine's default settings, and report their peak resident memory
(VmHWM) during `fit` alone, the scan excluded (`/proc/self/clear_refs` resets the peak after
the scan; where that is refused the figure includes the scan):
- quick: a full quick-mode run (decode, features of every image, 3 epochs of the head);
- finetune: the next process fine-tunes on the same images, cancelled after 100 steps of
  batch 16 (a full epoch of 50,000 images would take about 5 minutes more); its pixels come
  from the previous run's cache when they are on disk.
At 64 px 50,000 images are 614 MB of decoded pixels, above the engine's default RAM limit
(512 MiB), so they go to the on-disk cache; 5,000 (61 MB) stay in RAM. Target: the 50k peak
well under 10× the 5k one (ideally about 1×). Quick mode keeps its features in RAM
(1280 float32 per image: 256 MB for 50,000), which is what still grows there.

Throughput: the same fine-tune (the first `THROUGHPUT_IMAGES` images, `THROUGHPUT_EPOCHS`
epochs at 64 px, batch 16 per process) under `torchrun --standalone --nproc_per_node=1` and
`=2` (gloo on CPU, `OMP_NUM_THREADS` = cores / processes so both sides use every core once);
images trained per second of the run record's epoch times. On a 2-core machine expect no
speed-up: two processes split the same two cores, and pay for averaging the gradients.

Run: `.venv/bin/python benchmarks/scale.py` (--quick: 500 vs 5,000 images, with the RAM
limit lowered to 32 MiB so that the 5,000 go to disk as the 50,000 do; --modes throughput
for the torchrun comparison alone)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import _common
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
IMAGE_PX = 48
TRAIN_PX = 64
FINETUNE_STEPS = 100
TARGET = 10.0
MODES = ("quick", "finetune", "throughput")
THROUGHPUT_IMAGES = 1_024
THROUGHPUT_EPOCHS = 2


def generate(folder: Path, count: int) -> None:
    """`count` JPEGs, half per class: seeded noise tinted red or blue."""
    rng = np.random.default_rng(0)
    tints = {"red": np.array([90, -40, -40]), "blue": np.array([-40, -20, 90])}
    for name in tints:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        name = "red" if index % 2 == 0 else "blue"
        noise = rng.integers(0, 256, (6, 6, 3)).repeat(8, 0).repeat(8, 1)
        pixels = np.clip(noise + tints[name], 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(folder / name / f"{index:06d}.jpg", quality=90)


def linked_subset(source: Path, target: Path, count: int) -> None:
    """The first `count` images of `source` as hard links (no copy, no extra disk)."""
    for name in ("red", "blue"):
        (target / name).mkdir(parents=True, exist_ok=True)
        for path in sorted((source / name).iterdir())[:count // 2]:
            os.link(path, target / name / path.name)


def peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(data: Path, mode: str) -> None:
    """Scan and train in this process; print one JSON line with the peaks and timings."""
    from training.data.scanning import scan_dataset
    from training.fitting.trainer import fit
    from training.records.config import TrainConfig
    from training.records.events import StepEnded

    started = time.perf_counter()
    dataset = scan_dataset(data)
    scanned = time.perf_counter()
    after_scan = peak_kib()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    cancel = threading.Event()

    def stop_after_steps(event: object) -> None:
        if isinstance(event, StepEnded) and event.step >= FINETUNE_STEPS:
            cancel.set()

    if mode == "quick":
        result = fit(TrainConfig.quick(epochs=3, image_size=TRAIN_PX), dataset)
    else:
        result = fit(TrainConfig.finetune(epochs=1, image_size=TRAIN_PX), dataset,
                     stop_after_steps, cancel)
    home = Path(os.environ["CHEETAHLION_HOME"])
    print(json.dumps({
        "images": len(dataset.images), "scan_seconds": scanned - started,
        "fit_seconds": result.seconds, "peak_after_scan_mib": after_scan / 1024,
        "peak_fit_mib": peak_kib() / 1024, "peak_reset_after_scan": reset,
        "disk_cache_entries": len(list(home.glob("cache/pixels/*/index.json"))),
        "stopped": result.stopped,
    }))


def run_child(data: Path, mode: str) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", str(data), mode]
    output = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    return json.loads(output.strip().splitlines()[-1])


def torchrun_images_per_second(data: Path, processes: int, home: Path) -> float:
    """Images trained per second by a fine-tune under torchrun with `processes` workers."""
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHEETAHLION_HOME": str(home),
           "OMP_NUM_THREADS": str(threads)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={processes}"]
    subprocess.run([*torchrun, "-m", "training.cli", "train", str(data), "-o",
                    str(home / "model.safetensors"), "--mode", "finetune", "--epochs",
                    str(THROUGHPUT_EPOCHS), "--image-size", str(TRAIN_PX), "--batch-size", "16",
                    "--patience", "0", "--quiet"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    listed = subprocess.run([sys.executable, "-m", "training.cli", "runs", str(data), "--json"],
                            cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    record = json.loads(listed.stdout)[-1]
    trained = record["split"]["train"] * len(record["epochs"])
    return trained / sum(epoch["seconds"] for epoch in record["epochs"])


def throughput(work: Path, source: Path) -> tuple[list[object], dict[str, object]]:
    data = work / "throughput"
    linked_subset(source, data, THROUGHPUT_IMAGES)
    rates = {n: torchrun_images_per_second(data, n, work / f"home-{n}") for n in (1, 2)}
    row = ["fine-tune images/s, torchrun 1 vs 2 processes", rates[1], rates[2],
           rates[2] / rates[1], "report", ""]
    return row, {"images": THROUGHPUT_IMAGES, "epochs": THROUGHPUT_EPOCHS,
                 "images_per_second": {str(n): rate for n, rate in rates.items()}}


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), sys.argv[3])
        return 0
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                        help="which training modes to measure, and/or 'throughput' for 1 vs "
                             "2 processes under torchrun (default: all)")
    args = parser.parse_args()
    large = 5_000 if args.quick else 50_000
    small = large // 10
    work = _common.workspace("scale")
    if args.quick:
        os.environ["CHEETAHLION_MAX_PIXEL_RAM"] = str(32 * 2**20)
    started = time.perf_counter()
    generate(work / f"{large}", large)
    linked_subset(work / f"{large}", work / f"{small}", small)
    _common.progress(f"generated {large} images in {time.perf_counter() - started:.0f} s")
    memory_modes = [mode for mode in args.modes if mode != "throughput"]
    results: dict[int, dict[str, dict[str, object]]] = {}
    for count in (small, large):
        results[count] = {}
        for mode in memory_modes:
            results[count][mode] = run_child(work / f"{count}", mode)
            _common.progress(f"{count} images, {mode}: {results[count][mode]}")
    rows = []
    for mode in memory_modes:
        low, high = results[small][mode], results[large][mode]
        ratio = float(high["peak_fit_mib"]) / float(low["peak_fit_mib"])
        rows.append([f"{mode}: peak RSS during fit (MiB)", low["peak_fit_mib"],
                     high["peak_fit_mib"], ratio, f"< {TARGET:g}", _common.verdict(ratio < TARGET)])
        rows.append([f"{mode}: fit time (s)", low["fit_seconds"], high["fit_seconds"],
                     float(high["fit_seconds"]) / float(low["fit_seconds"]), "", ""])
        rows.append([f"{mode}: pixels on disk", bool(low["disk_cache_entries"]),
                     bool(high["disk_cache_entries"]), "", "", ""])
    tables = [_common.table(["measure", f"{small:,} images", f"{large:,} images", "ratio",
                             "target", ""], rows)] if rows else []
    measured: dict[str, object] = {}
    if "throughput" in args.modes:
        _common.progress("fine-tuning under torchrun with 1, then 2 processes")
        row, measured = throughput(work, work / f"{large}")
        tables.append(_common.table(["measure", "1 process", "2 processes", "ratio", "", ""],
                                    [row]))
    text = "\n\n".join(tables)
    _common.report(args, "Scale: peak memory vs dataset size, 1 vs 2 processes", text, {
        "small": small, "large": large, "image_px": IMAGE_PX, "train_px": TRAIN_PX,
        "finetune_steps": FINETUNE_STEPS, "runs": {str(k): v for k, v in results.items()},
        "throughput": measured,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
