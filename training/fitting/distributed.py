"""Training on several processes at once, under `torchrun`, with PyTorch's own engine.

`torchrun --nproc_per_node=N -m training.cli train ...` (or `cheetahlion-cli` under torchrun,
on one machine or several) starts N copies of the same command and tells each, through the
environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), who it is. `workers()`
reads that and, when there is more than one process, joins the process group: NCCL between
GPUs, gloo between CPUs. Everything the trainer needs from the group goes through the
`Workers` it returns: which slice of the data is this process's (`shard`), sums of counts
across processes (`sum`), whether any process was asked to stop (`any`), features gathered
from all of them (`gather`), and a barrier. Run as a single process — the app, the tests,
plain `cheetahlion-cli` — it is a no-op on every count, so training computes exactly what it
did before.

Only rank 0 writes anything (the model file, checkpoints, the run record) and reports
progress; `is_main` says which process that is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from training.core.errors import ConfigError


@dataclass(frozen=True)
class Workers:
    """This process's place among the training processes (1 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process on a machine: the local rank's."""
        if self.distributed and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, indices: Sequence[int], seed: int, pad: bool = True) -> tuple[int, ...]:
        """This process's share of `indices`, as `torch.utils.data.DistributedSampler` deals
        them: shuffled by a generator seeded with `seed` (the same order on every process),
        padded by repeating the first ones until it divides evenly (so every process takes
        the same number of steps, which DistributedDataParallel needs), then every
        `world_size`-th one from `rank`. `pad=False` keeps `indices`' order and leaves the
        shares uneven by at most one. Alone, the process gets `indices` unchanged."""
        if not self.distributed:
            return tuple(indices)
        if not pad:
            return tuple(indices[self.rank::self.world_size])
        order = torch.randperm(len(indices), generator=torch.Generator().manual_seed(seed))
        chosen = [indices[i] for i in order.tolist()]
        short = -len(chosen) % self.world_size
        chosen += (chosen * (short // max(len(chosen), 1) + 1))[:short]
        return tuple(chosen[self.rank::self.world_size])

    def sum(self, values: Sequence[float]) -> list[float]:
        """Each value summed over all processes (float64, so counts stay exact)."""
        if not self.distributed:
            return list(values)
        total = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on any: a stop asked of one stops all at
        the same batch, instead of leaving the others waiting for it forever."""
        if not self.distributed:
            return flag
        return self.sum([float(flag)])[0] > 0

    def gather(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """Every process's `rows` (same trailing shape, any count), on every process, in
        rank order. gloo gathers only equal sizes: each is padded to the largest, then cut."""
        if not self.distributed:
            return [rows]
        device = self._collective_device()
        counts = [int(n) for n in self.per_process(len(rows))]
        padded = torch.zeros((max(counts), *rows.shape[1:]), dtype=rows.dtype, device=device)
        padded[:len(rows)] = rows.to(device)
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        return [part[:count].to(rows.device) for part, count in zip(parts, counts, strict=True)]

    def per_process(self, value: int) -> list[int]:
        """Every process's `value`, in rank order."""
        if not self.distributed:
            return [value]
        mine = torch.zeros(self.world_size, dtype=torch.float64, device=self._collective_device())
        mine[self.rank] = value
        dist.all_reduce(mine, op=dist.ReduceOp.SUM)
        return [int(v) for v in mine.tolist()]

    def align_buffers(self, module: nn.Module) -> None:
        """Give every process rank 0's buffers (batch-norm statistics), so all of them
        validate the very model rank 0 will save."""
        if not self.distributed:
            return
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)

    def share(self, value: str) -> str:
        """Rank 0's `value` (e.g. the run id), on every process."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def generator(self, shared: torch.Generator, seed: int) -> torch.Generator:
        """The generator for this process's own draws (shuffling its shard, augmenting its
        images): alone, the run's `shared` one; under torchrun one seeded per rank, so
        processes augment differently while `shared` stays the same on all of them."""
        if not self.distributed:
            return shared
        return torch.Generator().manual_seed(seed * 65_537 + self.rank + 1)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def _collective_device(self) -> torch.device:
        """NCCL moves only GPU tensors; gloo only CPU ones."""
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The half-precision type to autocast to, or None for full float32.

    Only on CUDA: "auto" means bfloat16 where the GPU supports it (no loss scaling needed),
    else float32; CPUs and Apple GPUs always train in float32, exactly as before.
    """
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def under_autocast(forward: Callable[[torch.Tensor], torch.Tensor], precision: str,
                   device: torch.device
                   ) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.amp.GradScaler | None]:
    """`forward` under autocast where `precision` means half precision on `device`
    (`autocast_dtype`: CUDA only), its logits back in float32, and the loss scaler float16
    needs; elsewhere `forward` itself and None. The full and the partial fine-tune share it."""
    half = autocast_dtype(precision, device)
    if half is None:
        return forward, None

    def halved(inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=half):
            return forward(inputs).float()

    return halved, torch.amp.GradScaler("cuda") if half == torch.float16 else None


def from_environment() -> Workers:
    """Who this process is, as torchrun's environment says (1 of 1 when not under it)."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as error:
        raise ConfigError(f"torchrun's environment is malformed ({error}): start the run "
                          "again with torchrun, or without it.") from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"RANK {rank} and WORLD_SIZE {world_size} do not fit together: "
                          "start the run again with torchrun, or without it.")
    return Workers(rank, world_size, local_rank)


@contextmanager
def workers(device: torch.device) -> Iterator[Workers]:
    """This process's `Workers`, with the process group joined while the block runs (when
    there are several processes and no group yet) and left afterwards, on errors too.

    NCCL when training on CUDA, gloo otherwise. Each process on a machine takes the GPU of
    its local rank.
    """
    found = from_environment()
    if not found.distributed or dist.is_initialized():
        yield found
        return
    if not dist.is_available():
        raise ConfigError("This PyTorch build has no torch.distributed: train with one "
                          "process (without torchrun).")
    use_nccl = device.type == "cuda" and dist.is_nccl_available()
    if use_nccl:
        torch.cuda.set_device(found.local_rank)
    dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    try:
        yield found
    finally:
        dist.destroy_process_group()
