"""Peak memory of classifying 10,000 photos with the feature store on and off, and its size.

The issue: "Peak RSS during a 10,000-photo classification must not grow because of the
store."

Setup, before any measurement: `--count` JPEGs (default 10,000) written once into a
temporary folder, each a different seeded picture of one of the real photos (`_photos.py`:
random crop of 80-100 % of the area, flip, brightness, JPEG quality 85-95; real sizes,
about 410-725 px a side), so no two share their bytes. A quick-mode model is trained on the
dataset and saved, and its feature graph exported once into a shared ONNX cache (shown as
"graph export, once"), so every side runs the same onnxruntime graph.

Each side is a fresh Python process (so its peak is its own) with its own
empty CHEETAHLION_HOME (the graph cache shared), which loads the model file, builds a
`Predictor`, and consumes `predict(paths)` over every file (batch 32), keeping only a
running digest of the labels:

- store off: `Predictor(model, keep_features=False)`.
- store on: `Predictor(model)`, the store empty at the start, so it writes every vector.
- store on, again: the same home as "store on" a second time: every vector read back.

The table shows each side's peak RSS over the whole process (imports and model included),
its RSS just before `predict` started (the onnxruntime session is made inside `predict`, so
the growth includes it), the growth between the two, the time, and the store's files on disk
after the process ended (with the bare size of the vectors). The peak is VmHWM on Linux, not
`ru_maxrss`: a child's `ru_maxrss` carries its parent's peak (`_common.peak_rss_mib`). The
label digests must agree. With `--repeats N` the sides take turns; the largest peak of each
side is compared.

Target: peak RSS with the store ≤ 1.05 × peak RSS without it (both store sides; the 5 %
allows for run-to-run noise in the allocator, the issue asks that it not grow).

    .venv/bin/python benchmarks/store_memory.py            # full run (several minutes)
    .venv/bin/python benchmarks/store_memory.py --quick    # 300 files, checks the script
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common
import _photos

TARGET = 1.05
SIDES = ("off", "on", "on_again")
LABELS = {"off": "store off (keep_features=False)", "on": "store on, empty at the start",
          "on_again": "store on, again (every vector stored)"}


# --- one side, in a process of its own -------------------------------------------------------

def child(side: str, gallery: Path, model_file: Path) -> None:
    from training.fitting.modelfile import load_model
    from training.predict.inference import Predictor

    predictor = Predictor(load_model(model_file), keep_features=side != "off")
    paths = sorted(gallery.iterdir())
    before = _common.resident_kib()
    labels = hashlib.blake2b(digest_size=8)
    errors = 0
    started = time.perf_counter()
    for prediction in predictor.predict(paths, batch_size=32):
        errors += prediction.error is not None
        labels.update(f"{Path(prediction.path).name}:{prediction.label}\n".encode())
    seconds = time.perf_counter() - started
    print(json.dumps({
        "side": side, "seconds": seconds, "images": len(paths), "errors": errors,
        "peak_rss_mib": _common.peak_rss_mib(),
        "rss_before_predict_mib": before / 1024 if before is not None else None,
        "runtime": predictor.runtime, "labels_digest": labels.hexdigest(),
        "width": predictor.frozen.width,
    }))


def run_child(side: str, gallery: Path, model_file: Path) -> dict[str, Any]:
    """One side in a fresh process, in the CHEETAHLION_HOME this process points at now."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", side,
               "--gallery-folder", str(gallery), "--model-file", str(model_file)]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env=dict(os.environ))
    if done.returncode != 0:
        raise SystemExit(f"error: the {side} process failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["errors"]:
        raise SystemExit(f"error: {result['errors']} files could not be classified ({side})")
    features = Path(os.environ["CHEETAHLION_HOME"]) / "cache" / "features"
    result["store_bytes_on_disk"] = _common.folder_bytes(features)
    return result


# --- setup and the table ---------------------------------------------------------------------

def setup_model(folder: Path, work: Path, graphs: Path) -> tuple[Path, float]:
    """(model file, seconds to export + check + load its graph into the shared cache)."""
    import torch

    from training.data.scanning import scan_dataset
    from training.fitting.trainer import fit
    from training.models import onnx_features
    from training.models.frozen import ONNX_RUNTIME, FrozenFeatures
    from training.records.config import TrainConfig

    _common.fresh_home(work, "setup", graphs)
    output = work / "model.safetensors"
    model = fit(TrainConfig.quick(), scan_dataset(folder), output=output).model
    if model is None:
        raise SystemExit("error: training stopped without a model")
    frozen = FrozenFeatures(model.network, model.preprocessing, torch.device("cpu"))
    onnx_features.graph_path(frozen.digest, model.preprocessing).unlink(missing_ok=True)
    started = time.perf_counter()
    if frozen.prepare(10_000) != ONNX_RUNTIME:
        raise SystemExit(f"error: no onnxruntime graph (is {onnx_features.DISABLE_ENV} set?)")
    return output, time.perf_counter() - started


def measure(gallery: Path, model_file: Path, work: Path, graphs: Path, repeats: int
            ) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for repeat in range(repeats):
        order = [("off",), ("on", "on_again")]
        for group in order if repeat % 2 == 0 else order[::-1]:
            _common.fresh_home(work, f"{group[0]}-{repeat}", graphs)
            for side in group:
                runs[side].append(run_child(side, gallery, model_file))
                last = runs[side][-1]
                _common.progress(
                    f"repeat {repeat + 1}/{repeats} {side}: peak RSS "
                    f"{last['peak_rss_mib']:.0f} MiB, {last['seconds']:.1f} s, store on disk "
                    f"{last['store_bytes_on_disk'] / 2**20:.1f} MiB")
    return runs


def rows_and_results(runs: dict[str, list[dict[str, Any]]]
                     ) -> tuple[list[list[object]], dict[str, Any]]:
    peak = {side: max(r["peak_rss_mib"] for r in runs[side]) for side in SIDES}
    ratios = {side: peak[side] / peak["off"] for side in SIDES}
    passed = all(ratios[side] <= TARGET for side in ("on", "on_again"))
    rows: list[list[object]] = []
    for side in SIDES:
        last = runs[side][-1]
        before = last["rss_before_predict_mib"]
        rows.append([
            LABELS[side], peak[side], f"{ratios[side]:.3f}",
            "" if side == "off" else f"<= {TARGET}",
            "" if side == "off" else _common.verdict(ratios[side] <= TARGET),
            before if before is not None else "n/a",
            last["peak_rss_mib"] - before if before is not None else "n/a",
            _common.median([r["seconds"] for r in runs[side]]),
            f"{last['store_bytes_on_disk'] / 2**20:.1f}",
        ])
    digests = {r["labels_digest"] for side in SIDES for r in runs[side]}
    return rows, {"peak_rss_mib": peak, "ratio_to_store_off": ratios, "pass": passed,
                  "labels_agree": len(digests) == 1}


def parse_args() -> argparse.Namespace:
    parser = _common.parser(__doc__)
    parser.add_argument("--count", type=int, default=None,
                        help="photos to classify (default 10000; 300 with --quick)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of each side, taking turns (default 1)")
    _common.add_per_class_option(parser, quick_default=12)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--gallery-folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model-file", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        child(args.child, args.gallery_folder, args.model_file)
        return
    args.count = args.count or (300 if args.quick else 10_000)
    args.repeats = args.repeats or 1
    sources = _common.class_photos(_common.require_data(args.data))
    work, folder = _common.prepare_data(args, "store-memory")
    graphs = work / "graphs"
    _common.progress(f"writing {args.count} distinct JPEGs (_photos.py) ...")
    started = time.perf_counter()
    gallery = _photos.make_photos(sources, 0, args.count, work / "photos")[1]
    generate_seconds = time.perf_counter() - started
    _common.warm_file_cache(sorted(gallery.iterdir()))
    model_file, export_seconds = setup_model(folder, work, graphs)
    runs = measure(gallery, model_file, work, graphs, args.repeats)

    rows, results = rows_and_results(runs)
    last_on = runs["on"][-1]
    vectors_mib = last_on["images"] * last_on["width"] * 4 / 2**20
    text = _common.table(
        ["", "peak RSS (MiB)", "÷ store off", "target", "result", "RSS before predict",
         "growth", "seconds (median)", "store on disk (MiB)"], rows,
    ) + (f"\n{args.count} distinct JPEGs (written in {generate_seconds:.0f} s), batch 32, "
         f"runtime {last_on['runtime']}; each side a fresh process and home. The "
         f"vectors alone are {vectors_mib:.1f} MiB. Labels agree across sides: "
         f"{results['labels_agree']}. Graph export, once: {export_seconds:.1f} s.")
    _common.report(args, f"Peak memory classifying {args.count} photos, store on vs off", text, {
        "count": args.count, "generate_seconds": generate_seconds,
        "graph_export_seconds": export_seconds, "runs": runs, "target": TARGET, **results,
        "vectors_mib": vectors_mib,
    })
    if not results["labels_agree"]:
        raise SystemExit("error: the sides gave different labels")


if __name__ == "__main__":
    main()
