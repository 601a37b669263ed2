"""Exported models vs the app: same probabilities on every photo, and how fast each runs.

A quick-mode model is trained by `fit` on the dataset, then exported with `export_model` to
ONNX, TorchScript and `.pt2` (export time and file size are recorded). Every photo of the
dataset is decoded once with the app's `load_pixels`; those same uint8 pixels go through the
app's `Predictor.probabilities` (the baseline) and through each exported file in its own
runtime (onnxruntime, `torch.jit.load`, `torch.export.load`), batch 32.

Parity: largest absolute probability difference from the app over all photos, and the
number of photos whose predicted label differs. Target: ≤ 1e-4 and 0 for every format.
Speed: images/s of each runtime over the same batches (median of the repeats), shown as a
ratio to the app's own forward pass; informative, no target.

    .venv/bin/python benchmarks/export_parity.py            # full run (a few minutes)
    .venv/bin/python benchmarks/export_parity.py --quick    # checks the script
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable

import _common
import numpy as np
import torch

from training.data.preprocessing import load_pixels
from training.data.scanning import scan_dataset
from training.data.tensors import to_uint8_batch
from training.fitting.trainer import fit
from training.predict.export import EXPORT_FORMATS, PARITY_TOLERANCE, export_model
from training.predict.inference import Predictor
from training.records.config import TrainConfig

BATCH = 32


def runner(export_format: str, path: str) -> Callable[[np.ndarray], np.ndarray]:
    if export_format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return lambda pixels: session.run(None, {"pixels": pixels})[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = (torch.jit.load(path) if export_format == "torchscript"
                  else torch.export.load(path).module())

    def run(pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(pixels)).numpy()
    return run


def timed(run: Callable[[np.ndarray], np.ndarray], batches: list[np.ndarray]
          ) -> tuple[float, np.ndarray]:
    gc.collect()
    started = time.perf_counter()
    outputs = [run(batch) for batch in batches]
    return time.perf_counter() - started, np.concatenate(outputs)


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed passes over all photos per runtime (default 3; 1 --quick)")
    _common.add_per_class_option(parser, quick_default=10)
    args = parser.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    work, folder = _common.prepare_data(args, "export")

    dataset = scan_dataset(folder)
    _common.progress(f"training a quick model on {len(dataset.images)} photos")
    trained = fit(TrainConfig.quick(), dataset, output=work / "model.safetensors")
    photos = [record.path for record in dataset.images]
    predictor = Predictor.from_file(trained.model_path, torch.device("cpu"))
    pixels = to_uint8_batch([load_pixels(p, predictor.preprocessing) for p in photos])
    nhwc = pixels.permute(0, 2, 3, 1).contiguous().numpy()
    batches = [nhwc[start:start + BATCH] for start in range(0, len(nhwc), BATCH)]

    def app(batch: np.ndarray) -> np.ndarray:
        return predictor.probabilities(torch.from_numpy(batch).permute(0, 3, 1, 2)).numpy()

    runners: dict[str, Callable[[np.ndarray], np.ndarray]] = {"app": app}
    exports = {}
    for export_format, suffix in EXPORT_FORMATS.items():
        _common.progress(f"exporting to {export_format}")
        result = export_model(trained.model_path, work / f"model{suffix}", export_format,
                              photos[::max(1, len(photos) // 8)])
        exports[export_format] = result
        runners[export_format] = runner(export_format, str(result.path))

    for run in runners.values():
        run(batches[0])  # first-call allocations and graph optimisation, outside the clock
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    outputs: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats):
        names = list(runners) if repeat % 2 == 0 else list(reversed(runners))
        for name in names:
            took, outputs[name] = timed(runners[name], batches)
            seconds[name].append(took)
            _common.progress(f"repeat {repeat + 1}/{args.repeats} {name}: "
                             f"{len(nhwc) / took:.1f} images/s")

    reference = outputs["app"]
    rate = {name: len(nhwc) / _common.median(times) for name, times in seconds.items()}
    rows, results = [], {}
    for name in EXPORT_FORMATS:
        difference = float(np.abs(outputs[name] - reference).max())
        flips = int((outputs[name].argmax(1) != reference.argmax(1)).sum())
        ok = difference <= PARITY_TOLERANCE and flips == 0
        result = exports[name]
        rows.append([name, f"{difference:.1e}", flips, rate[name], rate["app"],
                     f"{rate[name] / rate['app']:.2f}", f"{result.seconds:.1f}",
                     f"{result.path.stat().st_size / 2**20:.1f}", _common.verdict(ok)])
        results[name] = {"max_abs_difference": difference, "label_flips": flips,
                         "images_per_second": rate[name], "export_seconds": result.seconds,
                         "megabytes": result.path.stat().st_size / 2**20, "pass": ok}
    text = _common.table(
        ["format", "max |Δp|", "labels differ", "images/s", "app images/s", "ratio",
         "export s", "MiB", "parity ≤ 1e-4"], rows,
    ) + (f"\n{len(nhwc)} photos, batch {BATCH}, quick-mode {trained.model.backbone} model, "
         "same uint8 pixels into every side; the app side is Predictor.probabilities (torch, "
         "channels-last)")
    _common.report(args, "Exported models vs the app on every photo of the dataset", text, {
        "photos": len(nhwc), "batch_size": BATCH, "app_images_per_second": rate["app"],
        "formats": results, "pass": all(r["pass"] for r in results.values()),
    })


if __name__ == "__main__":
    main()
