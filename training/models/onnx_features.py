"""A network's frozen feature path as an ONNX Runtime session: the same numbers, 3-4× sooner.

On a CPU, onnxruntime runs EfficientNet-Lite0's forward pass about 3.5× faster than PyTorch
eager (`benchmarks/export_parity.py`). Every frozen pass (the finder's, quick training's,
evaluation's and classification's) therefore runs here when it can: the network's pooled
features, from uint8 pixels (normalisation inside the graph), exported once per network
and kept under `paths.cache_dir() / "onnx"` by the network's weights digest.

A graph is used only after it matched PyTorch on sample inputs in this process: features to
`FEATURE_TOLERANCE` of their scale and the network's own probabilities to
`PARITY_TOLERANCE` (the export's check). A graph that fails, cannot be written or cannot be
loaded is not used, and the caller runs PyTorch instead; a failed cached graph is deleted.

The samples cannot be guessed: besides four fixed synthetic images, each check draws
natural-looking images (smooth noise at several scales, correlated colours, an edge) from a
fresh random seed. A graph planted in the cache that recognised fixed check images and
returned a constant for everything else passed the old check and made every photo "lion".
A graph is known by the digest of the bytes the session was built from; the feature store
files every vector under it (`CheckedGraph.maker`), and a graph refused here has everything
it computed deleted from the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import torch
from torch import nn

from training.core import paths as app_paths
from training.core import torch_access
from training.core.atomic import write_atomically
from training.data.feature_store import FeatureStore, default_location
from training.data.tensors import PixelNormalisation
from training.records.preprocessing import Preprocessing

PARITY_TOLERANCE = 1e-4
FEATURE_TOLERANCE = 1e-4
UNPREDICTABLE_IMAGES = 4
"""Images drawn from a fresh seed for each check, beside the four fixed ones."""
KEEP_GRAPHS = 8
"""Cached graphs kept (about 14 MB each for Lite0); the least recently used go first."""
DISABLE_ENV = "CHEETAHLION_NO_ONNXRUNTIME"
"""Set to 1 to run every frozen pass on PyTorch (for comparisons and as an escape hatch)."""
KEEP_SESSIONS = 4
"""Checked sessions kept in this process (each holds its network, ~15 MB for Lite0): the
next predictor or finder on the same network skips loading and checking the graph."""
_PREPARING = threading.Lock()
_EXPORTER_LOGGERS = ("onnx", "onnx_ir", "onnxscript", "torch.onnx")
"""The exporter's loggers: at INFO they print ~80 lines per graph ("Replaced initializer …")."""
_INPUT = "pixels"
_OUTPUT = "features"

FeatureRunner = Callable[[np.ndarray], np.ndarray]
"""uint8 (N, 3, crop, crop) pixels → float32 (N, D) pooled features."""


@dataclass(frozen=True)
class CheckedGraph:
    """A graph's session, and who it is: "onnx:" + the digest of the bytes it was built
    from, under which the feature store keeps what it computed."""

    run: FeatureRunner
    maker: str

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.run(pixels)


T = TypeVar("T")


class CheckedSessions(Generic[T]):
    """What this process checked, by graph file as it is on disk (its `file_stamp`: a
    replaced or damaged file is checked again) plus anything else the check depended on
    (`extra`); the newest `keep` are kept. The float, cut and 8-bit graphs each keep one."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._items: dict[tuple, T] = {}
        self._lock = threading.Lock()

    def get(self, graph: Path, *extra: object) -> T | None:
        with self._lock:
            return self._items.get((graph, file_stamp(graph), *extra))

    def put(self, graph: Path, value: T, *extra: object) -> None:
        """Under the stamp the file has now, which the next look-up reads."""
        with self._lock:
            self._items[(graph, file_stamp(graph), *extra)] = value
            while len(self._items) > self.keep:
                self._items.pop(next(iter(self._items)))


_READY: CheckedSessions[CheckedGraph] = CheckedSessions(KEEP_SESSIONS)


class PixelsToFeatures(nn.Module):
    """uint8 NCHW pixels → pooled features (what the classifier reads), normalised inside."""

    def __init__(self, network: nn.Module, prep: Preprocessing) -> None:
        super().__init__()
        self.network = network
        self.normalise = PixelNormalisation(prep)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        inputs = self.normalise(pixels)
        return self.network.forward_head(self.network.forward_features(inputs), pre_logits=True)


def onnx_runner(network: nn.Module, prep: Preprocessing, digest: str,
                torch_features: FeatureRunner) -> CheckedGraph | None:
    """An onnxruntime runner for `network`'s features that passed the parity check against
    `torch_features`, or None (no onnxruntime, export failed, parity failed)."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return None
    try:
        import onnxruntime
    except ImportError:
        return None
    graph = graph_path(digest, prep)
    with _PREPARING:  # two jobs wanting the same graph export it once
        runner = _READY.get(graph)
        if runner is None:
            runner = _checked_runner(onnxruntime, network, prep, digest, torch_features)
            if runner is not None:
                _READY.put(graph, runner)
        return runner


def _checked_runner(onnxruntime: object, network: nn.Module, prep: Preprocessing, digest: str,
                    torch_features: FeatureRunner) -> CheckedGraph | None:
    graph = graph_path(digest, prep)

    def checked() -> CheckedGraph | None:
        runner = _session(onnxruntime, graph)
        if runner is not None and _agrees(runner, torch_features, network, prep):
            return runner
        graph.unlink(missing_ok=True)
        if runner is not None:
            forget_vectors_of(runner.maker)
        return None

    if graph.is_file():
        runner = checked()  # a damaged or stale graph is deleted and exported afresh
        if runner is not None:
            with contextlib.suppress(OSError):
                os.utime(graph)  # most recently used
            return runner
    return checked() if _export(network, prep, graph) else None


def graph_path(digest: str, prep: Preprocessing) -> Path:
    """The graph bakes in the weights, the input size and the normalisation."""
    norm = hashlib.blake2b(repr((prep.mean, prep.std)).encode(), digest_size=4).hexdigest()
    return app_paths.cache_dir() / "onnx" / f"features-{digest}-{prep.crop}-{norm}.onnx"


def has_graph(digest: str, prep: Preprocessing) -> bool:
    """Whether a graph for this network and input size was exported before."""
    return graph_path(digest, prep).is_file()


def session_threads() -> int:
    """The cores this process may use: onnxruntime's own default counts all of the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _export(network: nn.Module, prep: Preprocessing, graph: Path) -> bool:
    """Write the feature graph to `graph` atomically; False when the exporter fails."""
    return export_graph(PixelsToFeatures(network, prep).eval(), prep.crop, graph,
                        "features-*.onnx")


def export_graph(wrapper: nn.Module, crop: int, graph: Path, kept: str) -> bool:
    """Write `wrapper` (uint8 (N, 3, crop, crop) pixels → one float output) to `graph`
    atomically, with a dynamic batch; then keep the `KEEP_GRAPHS` newest files matching the
    glob `kept` beside it. False when the exporter fails."""
    _no_progress_thread()
    example = torch.zeros((2, 3, crop, crop), dtype=torch.uint8)
    try:
        with torch_access.exclusive(), warnings.catch_warnings(), quiet_exporter_logs():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper, (example,), dynamo=True, external_data=False, verbose=False,
                input_names=[_INPUT], output_names=[_OUTPUT],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
            )
            graph.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            import onnx

            onnx.save_model(program.model_proto, buffer)
            write_atomically(graph, buffer.getvalue(), durable=False)
    except Exception:  # exporters raise many types; PyTorch remains the answer
        return False
    _keep_recent(graph.parent, kept)
    return True


@contextlib.contextmanager
def quiet_exporter_logs() -> Iterator[None]:
    """Hold the exporter's loggers at WARNING while a graph is exported: the app logs INFO to
    the terminal and its log file, and a first start would print the optimiser's ~80 notes.
    Warnings and errors still reach every handler. Callers hold `torch_access.exclusive()`,
    so no other export changes the levels meanwhile."""
    loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _no_progress_thread() -> None:
    """The exporter's FX passes open (disabled) tqdm bars; tqdm would then start a monitor
    thread that lives as long as the process. Its documented switch turns that off."""
    with contextlib.suppress(ImportError):
        import tqdm

        tqdm.tqdm.monitor_interval = 0


def forget_vectors_of(maker: str) -> None:
    """Delete from the feature store every vector the refused graph `maker` computed."""
    if not default_location().is_file():
        return  # no store (or one that cannot open, which has said so already)
    store = FeatureStore(default_location())
    try:
        store.forget_maker(maker)
    finally:
        store.close()


def session_from_bytes(graph: Path) -> CheckedGraph | None:
    """A session of `graph` known by its bytes' digest (None: no onnxruntime, bad file)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return _session(onnxruntime, graph)


def _session(onnxruntime: object, graph: Path) -> CheckedGraph | None:
    """A session built from the graph's bytes as read once, so the digest names exactly
    what runs (a file swapped after the check changes nothing here)."""
    ort = onnxruntime
    try:
        data = graph.read_bytes()
        options = ort.SessionOptions()  # type: ignore[attr-defined]
        options.intra_op_num_threads = session_threads()
        options.inter_op_num_threads = 1
        # Spinning threads would take the cores the decoders need between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(  # type: ignore[attr-defined]
            data, options, providers=["CPUExecutionProvider"])
    except Exception:  # a damaged or foreign file
        return None

    def run(pixels: np.ndarray) -> np.ndarray:
        return session.run([_OUTPUT], {_INPUT: np.ascontiguousarray(pixels)})[0]
    return CheckedGraph(run, "onnx:" + hashlib.blake2b(data, digest_size=16).hexdigest())


def _agrees(runner: FeatureRunner, torch_features: FeatureRunner, network: nn.Module,
            prep: Preprocessing) -> bool:
    """The graph's features and probabilities match PyTorch's, one image and a batch, on
    the fixed images and on images it cannot know in advance."""
    pixels = np.concatenate([parity_pixels(prep.crop),
                             unpredictable_pixels(prep.crop, UNPREDICTABLE_IMAGES)])
    try:
        expected = torch_features(pixels)
        single, together = runner(pixels[:1]), runner(pixels)
    except Exception:
        return False
    if single.shape != expected[:1].shape or together.shape != expected.shape:
        return False
    scale = max(float(np.abs(expected).max()), 1.0)
    feature_error = max(np.abs(single - expected[:1]).max(), np.abs(together - expected).max())
    classifier = network.get_classifier()
    with torch.no_grad():
        def probabilities(rows: np.ndarray) -> np.ndarray:
            return classifier(torch.from_numpy(rows)).softmax(1).numpy()
        probability_error = np.abs(probabilities(together) - probabilities(expected)).max()
    return bool(feature_error <= FEATURE_TOLERANCE * scale
                and probability_error <= PARITY_TOLERANCE)


def parity_pixels(size: int) -> np.ndarray:
    """Noise, black, gradient and white images: uint8 (4, 3, size, size), the synthetic
    half of every parity check (graphs here, exports in `training.predict.export`)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    gradient = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (size, 1)),
                         np.tile(ramp[:, None], (1, size))]).astype(np.uint8)
    return np.stack([rng.integers(0, 256, (3, size, size), dtype=np.uint8),
                     np.zeros((3, size, size), np.uint8), gradient,
                     np.full((3, size, size), 255, np.uint8)])


def unpredictable_pixels(size: int, count: int, seed: int | None = None) -> np.ndarray:
    """uint8 (count, 3, size, size) natural-looking images from `seed` (None: a fresh one
    from the OS): smooth noise at five scales with a 1/f fall-off, like photographs'
    spectra, its channels mixed (colours in photos are correlated), a straight edge of
    another colour, and a random brightness and contrast."""
    rng = np.random.default_rng(seed)
    canvas = torch.zeros((count, 3, size, size))
    for cells in (2, 4, 8, 16, 32):
        grid = torch.from_numpy(rng.normal(size=(count, 3, cells, cells))).float()
        canvas += torch.nn.functional.interpolate(grid, size=(size, size), mode="bicubic",
                                                  align_corners=False) * (2.0 / cells)
    mixing = torch.from_numpy(rng.normal(0.5, 0.3, (count, 3, 3))).float()
    canvas = torch.einsum("ncd,ndhw->nchw", mixing, canvas)
    ramp = torch.linspace(-1, 1, size)
    angle = torch.from_numpy(rng.uniform(0, np.pi, (count, 1, 1))).float()
    edge = (ramp[None, :, None] * torch.cos(angle) + ramp[None, None, :] * torch.sin(angle)
            > torch.from_numpy(rng.uniform(-0.6, 0.6, (count, 1, 1))).float())
    canvas += edge[:, None] * torch.from_numpy(rng.normal(0, 1, (count, 3, 1, 1))).float()
    canvas = (canvas - canvas.mean(dim=(1, 2, 3), keepdim=True)) / (
        canvas.std(dim=(1, 2, 3), keepdim=True) + 1e-6)
    contrast = torch.from_numpy(rng.uniform(25, 70, (count, 1, 1, 1))).float()
    brightness = torch.from_numpy(rng.uniform(60, 190, (count, 1, 1, 1))).float()
    return (canvas * contrast + brightness).round().clamp(0, 255).to(torch.uint8).numpy()


def file_stamp(path: Path) -> tuple[int, int] | None:
    """A graph file's (size, mtime): a replaced or damaged file is checked again."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def _keep_recent(folder: Path, kept: str) -> None:
    graphs = sorted(folder.glob(kept), key=_modified, reverse=True)
    for old in graphs[KEEP_GRAPHS:]:
        old.unlink(missing_ok=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
