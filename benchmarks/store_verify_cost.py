"""What it costs to check each stored photo's bytes: classifying again, before and after.

Issue 21: the feature store trusted a file's path, size and modification time, so a photo
rewritten with its time kept (`cp -p`, `rsync -t`, editors, backup restores) was answered
with the old photo's features. Now every look-up reads the file and hashes its bytes
(`training.models.embedding`). A stored photo used to cost one database row; now it also
costs reading it. This script measures what that adds where it shows most: classifying a
folder whose features are all stored already.

Setup, before any clock: a quick-mode model trained on `--data` (default the 300 real
photos) with the current engine, its feature graph exported into a shared ONNX cache, and
the engine as it was before the change (`--before`, default 64d29c7, the last commit that
trusted stamps) unpacked from git into a temporary folder. Both sides classify the same
photos (the dataset's own files, read-only) with the same model file and the same graph.

Each side runs in its own process (the engine of that side on `sys.path`, a fresh empty
CHEETAHLION_HOME), the sides taking turns for `--repeats` rounds (default 3):

- first time: `Predictor.from_file` + `predict(paths)` (empty store: read, decode, network);
- again, same Predictor: `predict(paths)`, timed `--passes` times (default 7), the median,
  as wall-clock time and as the process's CPU time (all its threads: less swayed by other
  work on a busy machine);
- the store's part alone: `embed_files(paths, ...)` with every vector stored, the same way;
- again, new Predictor: `Predictor.from_file` + `predict(paths)`, as a later session would.

Also shown, in this process: per photo, reading + hashing its bytes (the price of a stored
photo now) against decoding + resizing + cropping the bytes already read (what a photo
missing from the store costs on top).

Targets: again ÷ first time ≤ 0.1 after the change (the store's own target, from
`store_reuse.py`); the after ÷ before ratios are the measured price of the check.

    .venv/bin/python benchmarks/store_verify_cost.py            # about two minutes
    .venv/bin/python benchmarks/store_verify_cost.py --quick    # checks the script
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common
import torch

from training.data.images import content_hash, decode_image, read_bytes
from training.data.preprocessing import resize_and_crop
from training.data.scanning import scan_dataset
from training.fitting.modelfile import load_model
from training.fitting.trainer import fit
from training.models.frozen import ONNX_RUNTIME, FrozenFeatures
from training.records.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
BEFORE = "64d29c7"
TARGET = 0.1
SIDES = ("before", "after")
_CHILD = """
import gc, json, sys, time
from pathlib import Path
import training
from training.models.embedding import default_store, embed_files
from training.predict.inference import Predictor

model, listing, passes = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = [Path(line) for line in Path(listing).read_text().splitlines()]

def classify(predictor):
    found = list(predictor.predict(paths))
    if any(p.error for p in found):
        raise SystemExit("error: " + next(p.error for p in found if p.error))
    return [p.label for p in found]

gc.collect()
started = time.perf_counter()
predictor = Predictor.from_file(model)
labels = classify(predictor)
first = time.perf_counter() - started
again, again_cpu = [], []
for _ in range(passes):
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    classify(predictor)
    again.append(time.perf_counter() - started)
    again_cpu.append(time.process_time() - cpu)
lookups, lookups_cpu = [], []
for _ in range(passes):
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    for _batch in embed_files(paths, predictor.frozen, default_store()):
        pass
    lookups.append(time.perf_counter() - started)
    lookups_cpu.append(time.process_time() - cpu)
gc.collect()
started = time.perf_counter()
classify(Predictor.from_file(model))
again_new = time.perf_counter() - started
print(json.dumps({"first": first, "again": sorted(again)[len(again) // 2],
                  "again_cpu": sorted(again_cpu)[len(again_cpu) // 2],
                  "lookups": sorted(lookups)[len(lookups) // 2],
                  "lookups_cpu": sorted(lookups_cpu)[len(lookups_cpu) // 2],
                  "again_new": again_new, "runtime": predictor.runtime, "labels": labels,
                  "engine": training.__file__}))
"""


def unpack_before(revision: str, work: Path) -> Path:
    """The engine (`training/`) as it was at `revision`, in work/before."""
    tree = work / "before"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "training"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"error: cannot read {revision} from git: "
                         f"{archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def setup_model(data: Path, work: Path, graphs: Path) -> Path:
    """A quick model on `data`, saved, with its feature graph in the shared cache."""
    _common.fresh_home(work, "setup", graphs)
    output = work / "model.safetensors"
    result = fit(TrainConfig.quick(), scan_dataset(data), output=output)
    if result.model is None:
        raise SystemExit(f"error: training stopped without a model ({result.stopped})")
    model = load_model(output)
    frozen = FrozenFeatures(model.network, model.preprocessing, torch.device("cpu"))
    if frozen.prepare(10_000) != ONNX_RUNTIME:
        raise SystemExit("error: no onnxruntime graph (is CHEETAHLION_NO_ONNXRUNTIME set?)")
    return output


def run_side(tree: Path, model: Path, listing: Path, home: Path, passes: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model), str(listing), str(passes)],
        cwd=tree, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(tree), "CHEETAHLION_HOME": str(home)})
    if done.returncode != 0:
        raise SystemExit(f"error: the side in {tree} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["engine"].startswith(str(tree)):
        raise SystemExit(f"error: the side in {tree} imported {result['engine']}")
    if result["runtime"] != ONNX_RUNTIME:
        raise SystemExit(f"error: the side in {tree} ran on {result['runtime']}")
    return result


def components(paths: list[Path], prep: Any, passes: int) -> dict[str, float]:
    """Median milliseconds per photo: reading + hashing; decoding + resizing + cropping."""
    reads, decodes = [], []
    for _ in range(passes):
        started = time.perf_counter()
        datas = [read_bytes(path) for path in paths]
        for data in datas:
            content_hash(data)
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        for path, data in zip(paths, datas, strict=True):
            resize_and_crop(decode_image(path, data, draft_size=prep.resize).image, prep)
        decodes.append(time.perf_counter() - started)
    return {"read_hash_ms": 1000 * _common.median(reads) / len(paths),
            "decode_ms": 1000 * _common.median(decodes) / len(paths)}


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--before", default=BEFORE,
                        help=f"git revision of the engine to compare with (default {BEFORE})")
    parser.add_argument("--repeats", type=int, default=None,
                        help="rounds of both sides (default 3; 1 with --quick)")
    parser.add_argument("--passes", type=int, default=None,
                        help="timed 'again' passes per round (default 7; 1 with --quick)")
    args = parser.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.passes = args.passes or (1 if args.quick else 7)
    data = _common.require_data(args.data)
    work = _common.workspace("store-verify")
    graphs = work / "graphs"
    paths = [path for files in _common.class_photos(data).values() for path in files]
    if args.quick:
        paths = paths[:40]
    listing = work / "photos.txt"
    listing.write_text("\n".join(map(str, paths)))
    _common.warm_file_cache(paths)
    trees = {"before": unpack_before(args.before, work), "after": REPO}
    _common.progress("training the model and exporting its graph ...")
    model = setup_model(data, work, graphs)

    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for repeat in range(args.repeats):
        for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
            home = _common.fresh_home(work, f"{side}-{repeat}", graphs)
            runs[side].append(run_side(trees[side], model, listing, home, args.passes))
            _common.progress(f"round {repeat + 1}/{args.repeats} {side}: first "
                             f"{runs[side][-1]['first']:.2f} s, again "
                             f"{runs[side][-1]['again']:.3f} s")
    if runs["before"][0]["labels"] != runs["after"][0]["labels"]:
        raise SystemExit("error: the two sides labelled the photos differently")
    parts = components(paths, load_model(model).preprocessing, args.passes)
    for run in runs["before"] + runs["after"]:
        del run["labels"]
    _report(args, runs, parts, len(paths))


def _report(args: Any, runs: dict[str, list[dict[str, Any]]], parts: dict[str, float],
            photos: int) -> None:
    medians = {side: {name: _common.median([run[name] for run in runs[side]])
                      for name in ("first", "again", "again_cpu", "lookups", "lookups_cpu",
                                   "again_new")}
               for side in SIDES}
    rows: list[list[object]] = []
    labels = {"first": "first time, empty store (s)", "again": "again, same Predictor (s)",
              "again_cpu": "again, same Predictor (CPU s)",
              "lookups": "  its store look-ups alone, embed_files (s)",
              "lookups_cpu": "  its store look-ups alone, embed_files (CPU s)",
              "again_new": "again, new Predictor (s)"}
    for name, label in labels.items():
        before, after = medians["before"][name], medians["after"][name]
        rows.append([f"classify {photos}: {label}", before, after, f"{after / before:.2f}",
                     "", ""])
    ratio = medians["after"]["again"] / medians["after"]["first"]
    rows.append(["again ÷ first time, after", "", "", f"{ratio:.3f}", f"<= {TARGET}",
                 _common.verdict(ratio <= TARGET)])
    rows.append(["per photo: read + hash (ms) / decode + crop (ms)",
                 parts["read_hash_ms"], parts["decode_ms"],
                 f"{parts['read_hash_ms'] / parts['decode_ms']:.3f}", "", ""])
    text = _common.table(["", "before", "after", "after ÷ before", "target", "result"],
                         rows) + (
        f"\nbefore = the engine at {args.before} (stored features found by path, size and "
        f"mtime); after = this tree (every photo read and hashed). Medians of "
        f"{args.repeats} rounds, each side in its own process and fresh store; the last row's "
        f"columns are read + hash and decode + crop per photo, and their ratio.")
    _common.report(args, "Checking stored photos' bytes: classifying again, before and after",
                   text, {"medians": medians, "components_ms": parts, "runs": runs,
                          "again_over_first_after": ratio, "pass": ratio <= TARGET})


if __name__ == "__main__":
    main()
