"""One untimed training step that readies a fresh process for a fine-tune run.

Why: a fresh process's first fine-tune epoch costs a little more than a warm one's.
Measured on the 300 photos (2 cores, `OMP_WAIT_POLICY=PASSIVE`, CPU seconds of the epoch,
fresh processes taking turns): median 22.4 s without this step (6 processes, 21.1–23.7 s),
21.7 s after it (9 processes, 19.9–22.1 s), with a fifth fewer page faults (1.6 million
instead of 2.1): glibc's allocator raises its mmap threshold only once large blocks have
been freed, and oneDNN builds its kernels for each layer's shapes on first use. A process
kept ready for the next run (`training.fitting.isolated.TrainingProcess`) takes this step
while nobody waits.

The step uses the run's backbone, batch size, image size and optimizer with random weights
(nothing is downloaded, read or saved) and is thrown away. Only on the CPU: elsewhere it
would hold device memory while the process waits. Afterwards glibc is asked to hand the
freed memory back (`malloc_trim`): a waiting process would otherwise hold ~0.7 GB more
(anonymous RSS 1.1–1.2 GB instead of 0.41 GB), and the epoch after a trimmed warm-up was no
slower (21.7 s median of 3, vs 22.0 s untrimmed).
"""

from __future__ import annotations

import ctypes
import gc

import torch
from torch import nn

from training.core.runtime import resolve_device
from training.fitting.loop import make_optimizer
from training.models.networks import create_network
from training.records.backbones import get_backbone
from training.records.config import TrainConfig

CLASSES = 2


def warm_up(config: TrainConfig) -> None:
    """One training step and one validation batch shaped like `config`'s, on the CPU."""
    if resolve_device(config.device).type != "cpu":
        return
    backbone = get_backbone(config.backbone)
    side = config.image_size or backbone.preprocessing.crop
    network = create_network(backbone, num_classes=CLASSES)
    network = network.to(memory_format=torch.channels_last).train()
    optimizer = make_optimizer(config, [p for p in network.parameters() if p.requires_grad])
    inputs = torch.rand(config.batch_size, 3, side, side)
    inputs = inputs.contiguous(memory_format=torch.channels_last)
    labels = torch.arange(config.batch_size) % CLASSES
    loss = nn.functional.cross_entropy(network(inputs), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    network.eval()
    with torch.no_grad():
        network(inputs)
    del network, optimizer, inputs, loss
    gc.collect()
    _return_freed_memory()


def _return_freed_memory() -> None:
    """Give the heap's free pages back to the system, where the C library is glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, Windows, musl)
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
