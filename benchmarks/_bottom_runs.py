"""Whole partial runs, the bottom pass on PyTorch eager or on onnxruntime (issue 25, round 3).

Not a benchmark itself (`partial_finetune.py --bottom-speed` runs it). Each run trains
`TrainConfig.partial()` in a fresh home (an empty feature store: every feature and activation
is computed; the ONNX graphs are shared and exported before any clock), and reports the
seconds to the kept model split into quick mode's features (until its last "features"
progress), the activations (until their last progress) and the epochs (the history's
seconds); which runtime computed the activations (as the engine logged it); how many photos
were decoded (quick mode's pass and each view's pass decode on their own); and the Train
step's estimate (`cheetahlion_gui.train.estimate`, this machine probed just before the run)
on the photos the run used (training and validation) with the factor that would have made
it exact (the run's seconds over the probe's bare
forward-pass estimate: what `PROBE_OVERHEAD` stands for).
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _common
import _cut_costs

from cheetahlion_gui.train.estimate import PROBE_OVERHEAD, estimate_seconds
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.models import activations, embedding
from training.models.frozen import EXPORT_WORTHWHILE, pretrained_frozen
from training.models.speed import forward_images_per_second
from training.records.backbones import DEFAULT_BACKBONE, get_backbone
from training.records.config import TrainConfig
from training.records.events import PhaseProgress


@contextlib.contextmanager
def bottom_on(runtime: str) -> Iterator[list[str]]:
    """The activations on `runtime` ("eager": the graph is never offered); yields what the
    engine logged about the runtime it chose, and counts decodes in `_decodes`."""
    said: list[str] = []

    class Heard(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    logger = logging.getLogger(activations.__name__)
    handler, level = Heard(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    runner, decode = activations.cut_runner, embedding._decode
    if runtime == "eager":
        activations.cut_runner = lambda *_args, **_kwargs: None
    _DECODES[0] = 0

    def counted(*args: Any) -> Any:
        _DECODES[0] += 1
        return decode(*args)
    embedding._decode = counted
    try:
        yield said
    finally:
        activations.cut_runner, embedding._decode = runner, decode
        logger.removeHandler(handler)
        logger.setLevel(level)


_DECODES = [0]


def one(setting: str, folder: Path, runtime: str, root: Path, name: str) -> dict[str, Any]:
    """One partial run from an empty store (module docstring)."""
    probe = forward_images_per_second(DEFAULT_BACKBONE)
    _common.fresh_home(root, name, root / "graphs")
    dataset = scan_dataset(folder)
    config = TrainConfig.partial(seed=0)
    marks: dict[str, float] = {}

    def callback(event: object) -> None:
        if isinstance(event, PhaseProgress):
            marks[event.phase] = time.perf_counter()

    started = time.perf_counter()
    with bottom_on(runtime) as said:
        result = fit(config, dataset, callback, output=root / f"{name}.safetensors")
    features = marks.get("features", started)
    used = len(result.split.train) + len(result.split.val)  # not the test photos
    bare = estimate_seconds(config, used, probe)
    return {"setting": setting, "bottom": runtime, "ran": " / ".join(said),
            "photos": used, "train": len(result.split.train),
            "seconds": round(result.seconds, 1), "features_s": round(features - started, 1),
            "activations_s": round(marks.get("activations", features) - features, 1),
            "epochs_s": round(sum(e.seconds for e in result.history), 1),
            "epochs": len(result.history), "decodes": _DECODES[0],
            "val": result.best_val_accuracy, "probe_images_s": round(probe, 1),
            "estimate_s": round(bare * PROBE_OVERHEAD, 1),
            "factor": round(result.seconds / bare, 2)}


def runs(folders: list[tuple[str, Path]], pairs: int, root: Path,
         sides: tuple[str, ...] = ("eager", "onnxruntime")) -> list[dict[str, Any]]:
    """`pairs` runs of each of `sides` on the first folder (alternating which goes first),
    then one onnxruntime run on each other folder; the graphs exported before any clock."""
    _common.fresh_home(root, "graphs-first", root / "graphs")
    frozen = pretrained_frozen()
    frozen.prepare(EXPORT_WORTHWHILE)  # the features graph, then the bottom's
    cut = activations.CutActivations(frozen.network, frozen.prep, frozen.device,
                                     TrainConfig.partial().top_blocks)
    _common.progress(f"the bottom's graph: {cut.prepare(EXPORT_WORTHWHILE)}")
    chosen = get_backbone(DEFAULT_BACKBONE)
    sample = sorted(folders[0][1].rglob("*.jpg"))[:32]
    decode_ms = _cut_costs.decoded(sample, chosen.preprocessing)[1] * 1e3
    _common.progress(f"decode of the first setting's images: {decode_ms:.2f} ms / photo")
    rows = []
    setting, folder = folders[0]
    for pair in range(pairs):
        order = sides if pair % 2 == 0 else tuple(reversed(sides))
        for runtime in order:
            rows.append(one(setting, folder, runtime, root, f"{pair}-{runtime}"))
            _common.progress(str(rows[-1]))
    for number, (setting, folder) in enumerate(folders[1:]):
        rows.append(one(setting, folder, "onnxruntime", root, f"size-{number}"))
        _common.progress(str(rows[-1]))
    if rows:
        _common.progress(f"factor median {statistics.median(r['factor'] for r in rows):.2f}")
    return rows
