"""Compare networks: a quick head on each network, on the same split, side by side.

Which pretrained network suits a dataset is an empirical question; `compare_networks`
answers it the way a user would, only without the guessing: it runs the real quick-mode
`fit` once per network with the same settings and seed (hence the same split), so every
figure is exactly what a normal run gives, and the model of the network the user picks is
already saved. Each run goes in the run history like any other: that is where its model,
curves and export live, and a compared run is a run (the user can evaluate or export the one
they chose without training it again).

Per network it reports validation accuracy and loss, the zero-shot baseline, the run's
seconds, the model file's size, and the frozen features' speed in images/s, measured on a
fixed batch of pixels with the runtime the app classifies a gallery with (onnxruntime when its
graph agrees with PyTorch), so the figure does not depend on what the feature store already
held. The speeds are timed last, every network in turn for `SPEED_ROUNDS` rounds (median):
timed one after the other, a machine whose other load changed in between made a larger
network look faster than a smaller one. So the rows reported as events while the comparison
runs have no speed yet; the returned rows have it.

A network that cannot run (its weights package missing, a damaged weights file) gives a row
with the error instead of ending the comparison; a problem with the data or the settings,
which every network would hit, is raised at once. Cancelling stops the current run (its best
head so far is kept, like any cancelled run), starts no further network and times none.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch

from training.core.errors import CheetahLionError, ConfigError, DatasetError
from training.fitting.result import FitResult
from training.fitting.trainer import fit
from training.models.frozen import EXPORT_WORTHWHILE, FrozenFeatures
from training.models.onnx_features import parity_pixels
from training.records.backbones import OFFLINE_BACKBONES, get_backbone
from training.records.comparison import ComparisonStarted, NetworkComparison
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.events import PhaseProgress, TrainingEvent, ignore_event

log = logging.getLogger(__name__)

SPEED_BATCH = 16
SPEED_ROUNDS = 5
"""Timed batches per network, taken in turns; the median is the figure."""


CompareEvent = TrainingEvent | ComparisonStarted | NetworkComparison | PhaseProgress
CompareCallback = Callable[[CompareEvent], None]


def compare_networks(
    dataset: Dataset,
    networks: Sequence[str] = OFFLINE_BACKBONES,
    config: TrainConfig | None = None,
    callback: CompareCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[NetworkComparison]:
    """Train a quick head with each of `networks` on `dataset`; one row per network tried.

    `config` (quick mode; default `TrainConfig.quick()`) applies to every network but for
    the backbone: its image size too, which None leaves at each network's own. The rows
    come in the order of `networks`; after a cancel, the networks not started have none.
    """
    base = (config or TrainConfig.quick()).validated()
    if base.mode != "quick":
        raise ConfigError("Compare networks trains quick heads: use quick mode settings "
                          "(fine-tune the network you choose afterwards).")
    names = _checked_names(networks)
    if not dataset.report.can_train:
        raise DatasetError(dataset.report.errors[0].message)
    emit = callback or ignore_event
    cancel = cancel or threading.Event()
    rows: list[NetworkComparison] = []
    timed: dict[int, FrozenFeatures] = {}
    for index, name in enumerate(names, start=1):
        if cancel.is_set():
            break
        title = get_backbone(name).title
        emit(ComparisonStarted(name, title, index, len(names)))
        row, frozen = _compare_one(dataset, replace(base, backbone=name), title, emit, cancel)
        if frozen is not None:
            timed[len(rows)] = frozen
        rows.append(row)
        emit(row)
    speeds = _feature_speeds(list(timed.values()), emit, cancel) if timed else None
    if speeds is not None:
        for at, speed in zip(timed, speeds, strict=True):
            rows[at] = replace(rows[at], images_per_second=speed)
    return rows


def _checked_names(networks: Sequence[str]) -> list[str]:
    """The networks, each once, in order; unknown names are a `ConfigError`."""
    names = list(dict.fromkeys(networks))
    if not names:
        raise ConfigError("Choose at least one network to compare.")
    for name in names:
        try:
            get_backbone(name)
        except CheetahLionError as error:
            raise ConfigError(str(error)) from None
    return names


def _compare_one(dataset: Dataset, config: TrainConfig, title: str, emit: CompareCallback,
                 cancel: threading.Event) -> tuple[NetworkComparison, FrozenFeatures | None]:
    """One network's run and figures but its speed, or its row with the error that stopped
    it; and its frozen features ready to be timed (None when it has no finished model)."""
    try:
        result = fit(config, dataset, emit, cancel)
    except (DatasetError, ConfigError):
        raise  # the data or the settings: every network would fail the same way
    except Exception as error:
        log.warning("comparing %s failed", config.backbone, exc_info=True)
        return NetworkComparison(config.backbone, title, error=_readable(error)), None
    frozen, runtime = None, None
    if result.stopped != "cancelled" and result.model is not None:
        frozen = _frozen(result)
        runtime = frozen.prepare(EXPORT_WORTHWHILE)
    size = result.model_path.stat().st_size / 1e6 if result.model_path else None
    trained = bool(result.history)
    return NetworkComparison(
        network=config.backbone, title=title,
        val_accuracy=result.best_val_accuracy if trained else None,
        val_loss=result.best_val_loss if trained else None,
        baseline_accuracy=result.baseline_accuracy, seconds=result.seconds,
        runtime=runtime, model_mb=size,
        val_balanced_accuracy=result.balance.balanced_accuracy if result.balance else None,
        model_path=str(result.model_path) if result.model_path else None,
        run_id=result.run_id, stopped=result.stopped,
    ), frozen


def _frozen(result: FitResult) -> FrozenFeatures:
    """The trained model's frozen features, on the runtime a gallery-sized job gets."""
    assert result.model is not None
    network = result.model.network
    return FrozenFeatures(network, result.model.preprocessing,
                          next(network.parameters()).device)


def _feature_speeds(networks: list[FrozenFeatures], emit: CompareCallback,
                    cancel: threading.Event) -> list[float] | None:
    """Images/s of each network's features on `SPEED_BATCH` fixed images: a warm-up each,
    then `SPEED_ROUNDS` rounds timing every network once in turn; the median of each.
    None when cancelled (checked between rounds)."""
    batches = []
    for frozen in networks:
        sample = parity_pixels(frozen.prep.crop)
        batches.append(torch.from_numpy(np.resize(sample, (SPEED_BATCH, *sample.shape[1:]))))
        frozen(batches[-1][:2])  # warm-up: first calls allocate
    seconds: list[list[float]] = [[] for _ in networks]
    for round_ in range(1, SPEED_ROUNDS + 1):
        if cancel.is_set():
            return None
        for frozen, pixels, times in zip(networks, batches, seconds, strict=True):
            started = time.perf_counter()
            frozen(pixels)
            times.append(time.perf_counter() - started)
        emit(PhaseProgress("speed", round_, SPEED_ROUNDS, 0.0))
    return [SPEED_BATCH / statistics.median(times) for times in seconds]


def _readable(error: Exception) -> str:
    """The engine's own errors say what to do; anything else at least names itself."""
    if isinstance(error, CheetahLionError):
        return str(error)
    return f"{type(error).__name__}: {error}"
