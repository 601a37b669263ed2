"""The float feature graph in 8 bits: about twice the images/s on CPUs with fast int8 paths.

onnxruntime's static QDQ quantization (int8 per-channel weights, uint8 activations,
reduce_range only on CPUs without VNNI: `quantization`) of the checked float graph
(`onnx_features`), kept beside it under `paths.cache_dir() / "onnx"` by the float graph's
digest and the settings below: built once per network and machine, never shipped.

Calibration uses `CALIBRATION_IMAGES` synthetic natural-looking images from a fixed seed
(`onnx_features.unpredictable_pixels`), never the user's photos and never the shared photos
(their licence is unknown): `benchmarks/int8_graph.py` measured what that costs against
calibrating on real photos.

An 8-bit graph is used only after it agreed with the float graph in this process, on
images drawn from a fresh seed: features to `MIN_MEAN_COSINE` / `MIN_WORST_COSINE` and the
network's own ImageNet probabilities to `MAX_PROBABILITY_ERROR`. One that does not is
deleted, its stored vectors forgotten, and the float graph runs instead. When it was built,
its speed was measured against the float graph's on this machine (`faster`); the "auto"
precision uses it only where it was faster and classified as accurately as float
(`auto_refusal`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.core.atomic import write_atomically
from training.models.onnx_features import (
    KEEP_GRAPHS,
    CheckedGraph,
    CheckedSessions,
    FeatureRunner,
    forget_vectors_of,
    quiet_exporter_logs,
    session_from_bytes,
    unpredictable_pixels,
)

log = logging.getLogger(__name__)

KEEP_CHECKED = 4
_CHECKED: CheckedSessions[tuple[CheckedGraph, str]] = CheckedSessions(KEEP_CHECKED)
"""8-bit sessions that passed their check in this process, with how they agreed, by
`_check_key`: a job with the same graph and classifier reuses them instead of loading and
checking again (0.1 s on an idle machine, ~4 s under load: docs/benchmarks.md)."""

CALIBRATION_IMAGES = 40
CALIBRATION_SEED = 26
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})
"""x86 instructions that add int8 products in 32 bits: with them, full-range 8-bit weights
cannot saturate (without them, u8×s8 pairs are summed in 16 bits first)."""


@functools.cache
def quantization() -> dict[str, object]:
    """What the 8-bit graph is made with on this machine; any change is a new graph (the
    file name's tag), so graphs and vectors made otherwise are never used.

    `reduce_range` (7-bit weights) guards CPUs without VNNI from saturating; where the CPU
    has VNNI it is off: on 48-px grey thumbnails it cost Lite0 2.3 points of accuracy and
    full range none (docs/benchmarks.md "Keeping sensitive layers in float")."""
    return {"format": "QDQ", "weights": "int8 per-channel", "activations": "uint8",
            "reduce_range": not has_vnni(), "method": "MinMax",
            "calibration": "synthetic-v1", "images": CALIBRATION_IMAGES,
            "seed": CALIBRATION_SEED}


ACCURATE_IN_8BIT = frozenset({"tf_efficientnet_lite0"})
"""Networks (timm architectures) whose full-range 8-bit graph classified as accurately as the
float one (docs/benchmarks.md, issue 26): Lite0's kept-model validation accuracy on grey 48-px
thumbnails 0.892 against float's 0.881, photos unchanged. Lite2 lost 0.5-0.9 points there
and Lite1 was not measured on the kept model, so "auto" keeps them float. (Not as accurate
everywhere: "none of these" lost 2.3 AUROC points on leopards, so float is the default.)"""


def auto_refusal(architecture: str | None) -> str | None:
    """Why the "auto" precision keeps float features for `architecture` on this machine
    whatever the speed; None where 8-bit may be used once measured faster."""
    if quantization()["reduce_range"]:
        return ("this processor has no VNNI instructions, and there 8-bit features lost "
                "about 2 points of accuracy on small photos")
    if architecture not in ACCURATE_IN_8BIT:
        return (f"8-bit features of {architecture or 'this network'} were not measured as "
                "accurate as float")
    return None


def has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU reports VNNI (Linux's /proc/cpuinfo; elsewhere unknown: False, the
    safe answer)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith("flags") and not VNNI_FLAGS.isdisjoint(line.split())
               for line in text.splitlines())
CHECK_IMAGES = 12
"""Images from a fresh seed each check is made of."""
MIN_MEAN_COSINE = 0.80
MIN_CENTRED_COSINE = 0.40
MAX_PROBABILITY_SHIFT = 0.45
"""Thresholds from `benchmarks/int8_graph.py` and docs/benchmarks.md ("8-bit frozen graph"):
on 28 check sets of these synthetic images the Lite0 8-bit graph scored cosine >= 0.861
(0.98 on real photos), centred cosine >= 0.58 and a mean probability shift (total
variation of the network's own ImageNet softmax) <= 0.37. Synthetic images' features are
alike, so a graph returning one constant vector still scores cosine 0.82; centred on the
float features' mean it scores ~0, as do a graph answering for the wrong images (rows
swapped, <= 0.04) and a negated one (also cosine -1); those shift the probabilities by
0.39-0.81."""
FASTER_BY = 1.15
"""The 8-bit graph counts as faster when its images/s are at least this multiple."""
SPEED_BATCH = 32
SPEED_ROUNDS = 3


@dataclass(frozen=True)
class Agreement:
    """How an 8-bit graph's answers compare with the float graph's on the same images."""

    mean_cosine: float
    centred_cosine: float
    probability_shift: float

    @property
    def close(self) -> bool:
        return (self.mean_cosine >= MIN_MEAN_COSINE
                and self.centred_cosine >= MIN_CENTRED_COSINE
                and self.probability_shift <= MAX_PROBABILITY_SHIFT)

    def describe(self) -> str:
        return (f"feature cosine {self.mean_cosine:.3f} (needed {MIN_MEAN_COSINE}), "
                f"centred {self.centred_cosine:.3f} (needed {MIN_CENTRED_COSINE}); "
                f"probabilities shifted by {self.probability_shift:.3f} on average "
                f"(allowed {MAX_PROBABILITY_SHIFT})")


def settings_tag() -> str:
    return hashlib.blake2b(json.dumps(quantization(), sort_keys=True).encode(),
                           digest_size=4).hexdigest()


def int8_path(float_graph: Path, float_maker: str) -> Path:
    """Named by the float graph's digest (what it was quantized from) and the settings."""
    return float_graph.parent / f"int8-{float_maker.removeprefix('onnx:')}-{settings_tag()}.onnx"


def speed_path(graph: Path) -> Path:
    return graph.with_suffix(".speed.json")


def quantize(float_bytes: bytes, target: Path, crop: int,
             calibration: np.ndarray | None = None) -> bool:
    """Write `float_bytes`' graph quantized to `target` atomically; False when it fails.
    `calibration` (uint8 N×3×crop×crop) defaults to the fixed synthetic images."""
    try:  # a build without the quantizer's own modules can still run the float graph
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ImportError as error:
        log.warning("onnxruntime's quantizer cannot be loaded (%s); using the float graph.",
                    error)
        return False

    pixels = (calibration if calibration is not None
              else unpredictable_pixels(crop, CALIBRATION_IMAGES, seed=CALIBRATION_SEED))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"pixels": pixels[i:i + 8]} for i in range(0, len(pixels), 8)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    try:
        with tempfile.TemporaryDirectory() as work, quiet_quantizer():
            source, output = Path(work) / "float.onnx", Path(work) / "int8.onnx"
            source.write_bytes(float_bytes)
            quantize_static(str(source), str(output), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, reduce_range=bool(quantization()["reduce_range"]),
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, output.read_bytes(), durable=False)
    except Exception as error:  # the quantizer raises many types; the float graph remains
        log.warning("Could not build the 8-bit feature graph (%s); using the float one.", error)
        return False
    return True


@contextlib.contextmanager
def quiet_quantizer():  # type: ignore[no-untyped-def]
    """The quantizer logs "consider pre-processing" warnings on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with quiet_exporter_logs():
            yield
    finally:
        root.setLevel(level)


def agreement(int8: FeatureRunner, reference: FeatureRunner, classifier: nn.Module,
              pixels: np.ndarray) -> Agreement:
    """Mean cosine of each image's features, raw and centred on the reference's mean, and
    the mean total variation between the softmax probabilities `classifier` gives each."""
    ours, theirs = int8(pixels).astype(np.float64), reference(pixels).astype(np.float64)
    if ours.shape != theirs.shape or not np.isfinite(ours).all():
        return Agreement(-1.0, -1.0, 1.0)
    centre = theirs.mean(0, keepdims=True)
    with torch.no_grad():
        def probabilities(rows: np.ndarray) -> np.ndarray:
            return classifier(torch.from_numpy(rows).float()).softmax(1).double().numpy()
        shift = 0.5 * np.abs(probabilities(ours) - probabilities(theirs)).sum(1).mean()
    return Agreement(_mean_cosine(ours, theirs), _mean_cosine(ours - centre, theirs - centre),
                     float(shift))


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
                                    + 1e-12)).mean())


def int8_runner(float_graph: CheckedGraph, float_path: Path, network: nn.Module, crop: int,
                build: bool) -> tuple[CheckedGraph | None, str]:
    """A checked 8-bit runner quantized from `float_graph` (read from `float_path`) and how
    it agreed (`Agreement.describe`), or None and why not. `build`: quantize (and time) it
    when no graph is cached."""
    try:
        graph = int8_path(float_path, float_graph.maker)
    except OSError as error:
        return None, str(error)
    if not graph.is_file():
        if not build:
            return None, "no 8-bit graph built on this machine yet"
        data = float_path.read_bytes() if float_path.is_file() else b""
        if "onnx:" + hashlib.blake2b(data, digest_size=16).hexdigest() != float_graph.maker:
            return None, "the float graph changed on disk since it was checked"
        if not quantize(data, graph, crop):
            return None, "the quantizer failed"
        _keep_recent(graph.parent)
    checked = _CHECKED.get(graph, *_check_key(float_graph, network, crop))
    if checked is not None:
        return checked
    runner = session_from_bytes(graph)
    if runner is None:
        graph.unlink(missing_ok=True)
        return None, "the cached 8-bit graph could not be loaded (deleted)"
    found = agreement(runner, float_graph, network.get_classifier(),
                      unpredictable_pixels(crop, CHECK_IMAGES))
    if not found.close:
        graph.unlink(missing_ok=True)
        speed_path(graph).unlink(missing_ok=True)
        forget_vectors_of(runner.maker)
        message = f"8-bit feature graph refused and deleted: {found.describe()}"
        log.warning("%s; using the float graph.", message)
        return None, message
    if not speed_path(graph).is_file():
        measure_speed(runner, float_graph, crop, speed_path(graph))
    with contextlib.suppress(OSError):
        os.utime(graph)  # most recently used
    checked = runner, found.describe()
    _CHECKED.put(graph, checked, *_check_key(float_graph, network, crop))
    return checked


def _check_key(float_graph: CheckedGraph, network: nn.Module, crop: int) -> tuple[str, ...]:
    """What a check's outcome depends on besides the 8-bit file itself: the float graph it
    was compared with, the check images' size and the classifier's weights (each model's
    own)."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in network.get_classifier().state_dict().values():
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return float_graph.maker, str(crop), digest.hexdigest()


def _keep_recent(folder: Path) -> None:
    """At most `KEEP_GRAPHS` 8-bit graphs (~4 MB each for Lite0), with their speed records."""
    graphs = sorted(folder.glob("int8-*.onnx"), key=_modified, reverse=True)
    for old in graphs[KEEP_GRAPHS:]:
        old.unlink(missing_ok=True)
        speed_path(old).unlink(missing_ok=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def measure_speed(int8: FeatureRunner, reference: FeatureRunner, crop: int,
                  record: Path) -> dict[str, float | bool]:
    """Images/s of both graphs, interleaved rounds on one batch, written to `record`."""
    pixels = unpredictable_pixels(crop, SPEED_BATCH, seed=1)
    times: dict[str, list[float]] = {"int8": [], "float": []}
    int8(pixels[:2]), reference(pixels[:2])  # warm-up
    for _ in range(SPEED_ROUNDS):
        for name, runner in (("float", reference), ("int8", int8)):
            start = time.perf_counter()
            runner(pixels)
            times[name].append(time.perf_counter() - start)
    speeds = {name: SPEED_BATCH / statistics.median(values) for name, values in times.items()}
    result: dict[str, float | bool] = {
        "float_images_per_s": round(speeds["float"], 1),
        "int8_images_per_s": round(speeds["int8"], 1),
        "faster": speeds["int8"] >= FASTER_BY * speeds["float"]}
    with contextlib.suppress(OSError):
        write_atomically(record, json.dumps(result).encode(), durable=False)
    return result


def measured_faster(float_path: Path, float_maker: str) -> bool:
    """Whether this machine's one speed check found the 8-bit graph faster (False if none)."""
    try:
        record = json.loads(speed_path(int8_path(float_path, float_maker)).read_text())
        return bool(record.get("faster"))
    except (OSError, ValueError, AttributeError):
        return False


def cached_and_faster(float_path: Path) -> bool:
    """Whether the float graph at `float_path` has an 8-bit graph here, timed faster. Reads
    and hashes the float graph (~14 MB, tens of ms) to know its name."""
    try:
        maker = "onnx:" + hashlib.blake2b(float_path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return False
    return int8_path(float_path, maker).is_file() and measured_faster(float_path, maker)
