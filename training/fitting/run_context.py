"""What both training modes work with: `RunContext`, and what each hands back: `Trained`.

`fit` prepares the context once (split, preprocessing, pretrained network, device, seeded
generators) and passes it to `training.fitting.quick` or `training.fitting.finetune`; the helpers
both modes share live on it, so each mode reads as its own short story.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from training.core.runtime import describe_device
from training.data.pixel_cache import Pixels, decode_all, select
from training.fitting.distributed import Workers
from training.fitting.loop import Batch, LoopOutcome
from training.models.novelty import NoveltyReference
from training.records.config import TrainConfig
from training.records.dataset import Dataset, Split
from training.records.evaluation import BalancedScores
from training.records.events import BaselineMeasured, Callback, RunStarted
from training.records.multilabel import MultiLabelDataset
from training.records.preprocessing import Preprocessing
from training.records.runtime_words import FrozenUse


@dataclass(frozen=True)
class RunContext:
    """One process's view of a run, fixed before training starts. The network is the one
    object the modes change (they train it and put the final classifier on it)."""

    config: TrainConfig
    dataset: Dataset | MultiLabelDataset
    """A multi-label run (`multilabel_finetune`) uses only what both have: its photos'
    paths, its fingerprint and the split; `labels`, `head_for_classes` and `baseline` are
    single-label's."""
    split: Split
    prep: Preprocessing
    """The backbone's preprocessing, at the config's image size."""
    network: nn.Module
    matches: dict[str, tuple[int, ...]] | None
    """Each class's ImageNet rows, when every class name is an ImageNet category."""
    device: torch.device
    generator: torch.Generator
    """Seeded by `seed_everything`, the same in every process."""
    draws: torch.Generator
    """This process's own generator for augmentation and its shard (`Workers.generator`)."""
    emit: Callback
    cancel: threading.Event
    workers: Workers

    def labels(self, indices: tuple[int, ...]) -> torch.Tensor:
        """The class numbers of the images at `indices`, on the CPU."""
        return torch.tensor([self.dataset.images[i].label for i in indices], dtype=torch.long)

    def decode(self, train_indices: tuple[int, ...]) -> tuple[Pixels, Pixels]:
        """Decode the training images at `train_indices` (all of them, or this process's
        share under torchrun) and every validation image once, as one progress phase.

        Large datasets stay on disk (`training.data.disk_cache`): everything below reads them a
        batch at a time and never gathers all the pixels in memory.
        """
        indices = train_indices + self.split.val
        paths = [self.dataset.images[i].path for i in indices]
        pixels = decode_all(paths, self.prep, self.emit, self.cancel, self.dataset.fingerprint)
        cut = len(train_indices)
        return select(pixels, slice(0, cut)), select(pixels, slice(cut, None))

    def announce(self, phases: tuple[str, ...], steps_per_epoch: int) -> None:
        """Report `RunStarted`: the phases the progress bar will go through, and its steps."""
        self.emit(RunStarted(
            mode=self.config.mode, backbone=self.config.backbone,
            device=describe_device(self.device), phases=phases, epochs=self.config.epochs,
            steps_per_epoch=steps_per_epoch, total_steps=steps_per_epoch * self.config.epochs,
            train_images=len(self.split.train), val_images=len(self.split.val),
        ))

    @property
    def starts_from_imagenet(self) -> bool:
        """Whether the classes' head starts from ImageNet's rows for them, i.e. as a working
        classifier (the zero-shot baseline) that training must not make worse."""
        return bool(self.config.init_from_imagenet and self.matches)

    def head_for_classes(self) -> nn.Linear:
        """A linear layer for the dataset's classes, started from ImageNet rows if they match."""
        imagenet = self.network.get_classifier()
        head = nn.Linear(imagenet.in_features, len(self.dataset.classes)).to(self.device)
        if self.starts_from_imagenet:
            with torch.no_grad():
                for row, name in enumerate(self.dataset.classes):
                    indices = list(self.matches[name])
                    head.weight[row] = imagenet.weight[indices].mean(0)
                    head.bias[row] = imagenet.bias[indices].mean(0)
        return head

    def shuffled(self, inputs: torch.Tensor | Pixels, labels: torch.Tensor,
                 generator: torch.Generator) -> Iterator[Batch]:
        """`inputs` and `labels` in batches of the config's size, in an order drawn from
        `generator`."""
        order = torch.randperm(len(inputs), generator=generator).to(inputs.device)
        for start in range(0, len(inputs), self.config.batch_size):
            chosen = order[start:start + self.config.batch_size]
            yield inputs[chosen], labels[chosen]

    def everyones(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows each process computed for every world_size-th image from its rank, gathered
        back into the images' order (alone: `rows` itself)."""
        if not self.workers.distributed:
            return rows
        parts = self.workers.gather(rows)
        whole = rows.new_empty((sum(len(part) for part in parts), *rows.shape[1:]))
        for rank, part in enumerate(parts):
            whole[rank::self.workers.world_size] = part
        return whole

    def baseline(self, imagenet_logits: torch.Tensor, labels: torch.Tensor) -> float | None:
        """The untouched ImageNet model's accuracy on validation, restricted to our classes
        (reported as `BaselineMeasured`); None when the classes are not ImageNet's."""
        if not self.matches:
            return None
        probabilities = imagenet_logits.softmax(1)
        scores = torch.stack(
            [probabilities[:, list(self.matches[name])].sum(1) for name in self.dataset.classes],
            dim=1,
        )
        accuracy = float((scores.argmax(1) == labels).float().mean().item())
        self.emit(BaselineMeasured(accuracy))
        return accuracy


@dataclass(frozen=True)
class Trained:
    """What a training mode hands back to `fit`: the loop's outcome (the best weights are
    already on the context's network when there are any; how they were chosen against the
    start is `RunHooks.kept`), the zero-shot baseline, and the "none of these" reference
    (None when it was not built)."""

    outcome: LoopOutcome
    baseline: float | None
    novelty: NoveltyReference | None = None
    balance: BalancedScores | None = None
    """The saved model's balanced validation scores (`training.fitting.rare_classes`)."""
    features: FrozenUse | None = None
    """The frozen features the head was trained on (quick mode); None: PyTorch's float."""
