"""What the feature store saves: quick training after the finder, and classifying a folder again.

The issue: "Quick training right after the finder on the same folder ÷ a cold quick
training: ≤ 0.2" and "Classifying the same folder a second time ÷ the first time: ≤ 0.1".

Setup, before any clock: `--per-class` photos per class (default 750, so 1,500) and a
gallery of `--gallery` other photos (default 1,000), each a different seeded picture of one of
the real photos (`_photos.py`), so no two files share their bytes; the dataset is scanned
once (`scan_dataset`, the same `Dataset` for every side). A quick-mode model is trained on it
and saved to a file, and its feature graph is exported, checked and loaded once (deleted
first if that training exported it), shown as "graph export, once": every side below finds
the graph in the shared ONNX cache. Each measurement runs in a fresh, empty CHEETAHLION_HOME
(`_common.fresh_home`): an empty feature store, no run history, the graph cache shared.

Training (`--parts training`): per repeat, in turns (cold first on even repeats):

- cold: `fit(TrainConfig.quick(), dataset)` in a fresh home, the store empty.
- after the finder: in another fresh home, `find_suspects(dataset)` (not in the clock; its
  time is shown), then the same `fit` timed alone. The finder embeds every usable photo with
  the pretrained backbone, which a quick-mode model shares, so training finds all of them.

Both clocks hold the whole `fit` (loading the network, features, head training, saving the
run). The table also shows how many feature vectors each fit added to the store (0 means it
computed none).

Classifying (`--parts classify`): per repeat, in a fresh home, three passes over the gallery:

- first time: `Predictor.from_file(model)` + `predict(paths)` consumed (empty store; the
  session loads the cached graph and checks it, as in the app).
- again, same Predictor: `predict(paths)` once more.
- again, new Predictor: `Predictor.from_file(model)` + `predict(paths)`, as a later session.

`Predictor.from_file` alone is timed too and shown on its own row (it is inside the first
and the new-Predictor passes): with every feature stored, loading the model is much of what
a second pass costs.

Targets: after-finder ÷ cold ≤ 0.2; each second time ÷ first time ≤ 0.1 (medians).

    .venv/bin/python benchmarks/store_reuse.py            # full run (several minutes)
    .venv/bin/python benchmarks/store_reuse.py --quick    # checks the script
"""

from __future__ import annotations

import gc
import shutil
import time
from pathlib import Path
from typing import Any

import _common
import _photos
import numpy as np
import torch

from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.insight.suspects import find_suspects
from training.models import onnx_features
from training.models.embedding import default_store
from training.models.frozen import ONNX_RUNTIME, FrozenFeatures
from training.predict.inference import Predictor
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.predictions import Prediction

TRAIN_TARGET = 0.2
CLASSIFY_TARGET = 0.1
QUICK_PER_CLASS, QUICK_GALLERY = 20, 48
PASSES = ("first", "again_same", "again_new")
PASS_LABELS = {"first": "first time (empty store)", "again_same": "again, same Predictor",
               "again_new": "again, new Predictor from the file"}


def setup_model(dataset: Dataset, work: Path, graphs: Path) -> tuple[Path, float, int]:
    """(model file, seconds to export + check + load its graph, feature width): a quick
    model trained in a home of its own, and its feature graph put into the shared cache."""
    _common.fresh_home(work, "setup", graphs)
    output = work / "model.safetensors"
    result = fit(TrainConfig.quick(), dataset, output=output)
    if result.model is None:
        raise SystemExit(f"error: training stopped without a model ({result.stopped})")
    model = result.model
    frozen = FrozenFeatures(model.network, model.preprocessing, torch.device("cpu"))
    onnx_features.graph_path(frozen.digest, model.preprocessing).unlink(missing_ok=True)
    started = time.perf_counter()
    runtime = frozen.prepare(10_000)
    seconds = time.perf_counter() - started
    if runtime != ONNX_RUNTIME:
        raise SystemExit(f"error: no onnxruntime graph (is {onnx_features.DISABLE_ENV} set?)")
    leave_home()
    return output, seconds, frozen.width


def leave_home() -> None:
    """Close the current home's store (the engine keeps it open per location) and delete
    the home, graph cache excepted, so stale homes neither hold files open nor fill disk."""
    store = default_store()
    store.close()
    home = store.location.parents[2]
    shutil.rmtree(home, ignore_errors=True)


def stored_vectors(width: int) -> int:
    """Feature vectors (of `width` floats) in the current home's store."""
    store = default_store()
    return store.stored_bytes() // (4 * width) if store.available else 0


def timed_fit(dataset: Dataset, width: int) -> tuple[float, int]:
    """(seconds of `fit(TrainConfig.quick(), dataset)`, feature vectors it added)."""
    before = stored_vectors(width)
    gc.collect()
    started = time.perf_counter()
    result = fit(TrainConfig.quick(), dataset)
    seconds = time.perf_counter() - started
    if result.model is None:
        raise SystemExit(f"error: training stopped without a model ({result.stopped})")
    return seconds, stored_vectors(width) - before


def measure_training(dataset: Dataset, work: Path, graphs: Path, repeats: int, width: int
                     ) -> dict[str, list[Any]]:
    runs: dict[str, list[Any]] = {"cold": [], "after_finder": [], "finder": [],
                                  "computed_cold": [], "computed_after_finder": []}
    for repeat in range(repeats):
        for side in (("cold", "after_finder") if repeat % 2 == 0 else ("after_finder", "cold")):
            _common.fresh_home(work, f"train-{side}-{repeat}", graphs)
            if side == "after_finder":
                started = time.perf_counter()
                find_suspects(dataset)
                runs["finder"].append(time.perf_counter() - started)
            seconds, computed = timed_fit(dataset, width)
            runs[side].append(seconds)
            runs[f"computed_{side}"].append(computed)
            leave_home()
            _common.progress(f"training repeat {repeat + 1}/{repeats} {side}: {seconds:.2f} s "
                             f"({computed} features computed)")
    return runs


def classify(predictor: Predictor, paths: list[Path]) -> list[Prediction]:
    predictions = list(predictor.predict(paths))
    errors = sum(1 for p in predictions if p.error)
    if errors:
        raise SystemExit(f"error: {errors} of {len(paths)} files could not be classified")
    return predictions


def load_predictor(model_file: Path, seconds: dict[str, float], name: str) -> Predictor:
    """`Predictor.from_file`, its time kept under `name` (shown, and inside its pass)."""
    started = time.perf_counter()
    predictor = Predictor.from_file(model_file)
    seconds[name] = time.perf_counter() - started
    return predictor


def classify_passes(model_file: Path, paths: list[Path]) -> tuple[dict[str, float], float]:
    """({pass or load: seconds}, largest probability difference from the first pass)."""
    seconds: dict[str, float] = {}
    gc.collect()
    started = time.perf_counter()
    predictor = load_predictor(model_file, seconds, "load_first")
    first = classify(predictor, paths)
    seconds["first"] = time.perf_counter() - started
    if predictor.runtime != ONNX_RUNTIME:
        raise SystemExit(f"error: the Predictor ran on {predictor.runtime}")
    started = time.perf_counter()
    same = classify(predictor, paths)
    seconds["again_same"] = time.perf_counter() - started
    del predictor
    gc.collect()
    started = time.perf_counter()
    new = classify(load_predictor(model_file, seconds, "load_new"), paths)
    seconds["again_new"] = time.perf_counter() - started
    reference = np.array([p.probabilities for p in first])
    difference = max(float(np.abs(np.array([p.probabilities for p in again]) - reference).max())
                     for again in (same, new))
    return seconds, difference


def measure_classify(model_file: Path, paths: list[Path], work: Path, graphs: Path,
                     repeats: int) -> tuple[dict[str, list[float]], float]:
    runs: dict[str, list[float]] = {name: [] for name in (*PASSES, "load_first", "load_new")}
    difference = 0.0
    for repeat in range(repeats):
        _common.fresh_home(work, f"classify-{repeat}", graphs)
        seconds, worst = classify_passes(model_file, paths)
        leave_home()
        difference = max(difference, worst)
        for name, value in seconds.items():
            runs[name].append(value)
        _common.progress(f"classify repeat {repeat + 1}/{repeats}: " + ", ".join(
            f"{name} {seconds[name]:.2f} s" for name in PASSES))
    return runs, difference


def training_rows(runs: dict[str, list[Any]]) -> tuple[list[list[object]], dict[str, Any]]:
    cold, warm = _common.median(runs["cold"]), _common.median(runs["after_finder"])
    ratio = warm / cold
    rows: list[list[object]] = [
        ["quick training: cold (s)", cold, "", "", "", _runs(runs["cold"])],
        ["quick training after the finder (s)", warm, f"{ratio:.3f}", f"<= {TRAIN_TARGET}",
         _common.verdict(ratio <= TRAIN_TARGET), _runs(runs["after_finder"])],
        ["  the finder before it, not timed (s)", _common.median(runs["finder"]), "", "", "",
         _runs(runs["finder"])],
        ["  features computed by the fit: cold / after", " / ".join(
            str(max(runs[k])) for k in ("computed_cold", "computed_after_finder")),
         "", "", "", ""],
    ]
    return rows, {"training_runs": runs, "training_ratio": ratio,
                  "training_pass": ratio <= TRAIN_TARGET}


def classify_rows(runs: dict[str, list[float]], images: int
                  ) -> tuple[list[list[object]], dict[str, Any]]:
    first = _common.median(runs["first"])
    ratios = {name: _common.median(runs[name]) / first for name in PASSES[1:]}
    rows: list[list[object]] = [[f"classify {images}: {PASS_LABELS['first']} (s)", first, "",
                                 "", "", _runs(runs["first"])]]
    for name in PASSES[1:]:
        rows.append([f"classify {images}: {PASS_LABELS[name]} (s)", _common.median(runs[name]),
                     f"{ratios[name]:.3f}", f"<= {CLASSIFY_TARGET}",
                     _common.verdict(ratios[name] <= CLASSIFY_TARGET), _runs(runs[name])])
    loads = runs["load_first"] + runs["load_new"]
    rows.append(["  of which Predictor.from_file, each time (s)", _common.median(loads), "", "",
                 "", _runs(loads)])
    passed = all(r <= CLASSIFY_TARGET for r in ratios.values())
    return rows, {"classify_runs": runs, "classify_ratios": ratios, "classify_pass": passed}


def _runs(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--per-class", type=int, default=None,
                        help=f"photos per class to train on (default 750; {QUICK_PER_CLASS} "
                             "with --quick)")
    parser.add_argument("--gallery", type=int, default=None,
                        help=f"photos to classify (default 1000; {QUICK_GALLERY} with --quick)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats of each part (default 2; 1 with --quick)")
    parser.add_argument("--parts", choices=("training", "classify", "both"), default="both")
    args = parser.parse_args()
    args.per_class = args.per_class or (QUICK_PER_CLASS if args.quick else 750)
    args.gallery = args.gallery or (QUICK_GALLERY if args.quick else 1000)
    args.repeats = args.repeats or (1 if args.quick else 2)
    sources = _common.class_photos(_common.require_data(args.data))
    work = _common.workspace("store-reuse")
    graphs = work / "graphs"

    _common.progress(f"writing {args.per_class} photos per class and {args.gallery} others ...")
    folder, gallery = _photos.make_photos(sources, args.per_class, args.gallery, work / "photos")
    paths = sorted(gallery.iterdir())
    dataset = scan_dataset(folder)
    _common.warm_file_cache([image.path for image in dataset.images] + paths)
    model_file, export_seconds, width = setup_model(dataset, work, graphs)

    rows: list[list[object]] = []
    results: dict[str, Any] = {"images": len(dataset.images), "gallery": len(paths),
                               "graph_export_seconds": export_seconds}
    passed = []
    if args.parts in ("training", "both"):
        part_rows, part = training_rows(measure_training(dataset, work, graphs, args.repeats,
                                                               width))
        rows += part_rows
        results.update(part)
        passed.append(part["training_pass"])
    if args.parts in ("classify", "both"):
        runs, difference = measure_classify(model_file, paths, work, graphs, args.repeats)
        part_rows, part = classify_rows(runs, len(paths))
        rows += part_rows
        results.update(part, classify_max_probability_difference=difference)
        passed.append(part["classify_pass"])
    rows.append(["graph export, once (s)", export_seconds, "", "", "", ""])
    text = _common.table(["", "median", "÷ first/cold", "target", "result", "each run"],
                         rows) + (
        f"\ntraining on {len(dataset.images)} photos (quick mode), classifying {len(paths)} "
        f"other photos; every file distinct (_photos.py), each side in a fresh "
        f"CHEETAHLION_HOME sharing one ONNX graph cache. Largest probability difference "
        f"between a second pass and the first: "
        f"{results.get('classify_max_probability_difference', 'n/a')}")
    _common.report(args, "Feature store reuse: training after the finder, classifying again",
                   text, {**results, "pass": all(passed)})


if __name__ == "__main__":
    main()
