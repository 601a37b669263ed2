"""`cheetahlion-cli train`: train a classifier, with progress bars and a one-line result.

    cheetahlion-cli train DATA -o MODEL          train (quick by default; --mode finetune)
    cheetahlion-cli train DATA -o MODEL --resume RUN   carry a stopped fine-tune on

Ctrl+C stops at the next batch and still saves the best model (exit 130 when none was saved);
once the run has ended, Ctrl+C no longer changes the exit status.
Under torchrun each process says which rank it is on stderr; only rank 0 shows progress and
the result.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.cli.support import (
    EXIT_INTERRUPTED,
    PhaseBars,
    add_feature_precision_option,
    add_output_options,
    add_split_options,
    print_json,
    run_cancellable,
    sigint_ignored,
    usable_dataset,
)
from training.core.errors import CheetahLionError
from training.records.evaluation import BalancedScores, small_class_note
from training.records.events import EpochEnded, PhaseProgress, RunStarted, StepEnded
from training.records.run_summary import against_quick_mode, what_it_gained, why_it_ended
from training.records.runtime_words import describe_frozen


def register(commands: Any) -> None:
    from training.records.backbones import BACKBONES, DEFAULT_BACKBONE

    train = commands.add_parser("train", help="train a classifier")
    train.add_argument("data", type=Path)
    train.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    train.add_argument("--mode", choices=("quick", "partial", "finetune"),
                       help="quick: frozen backbone, seconds (default); partial: quick, then "
                            "the last blocks on stored activations (a CPU fine-tune); "
                            "finetune: whole network")
    train.add_argument("--top-blocks", type=int, dest="top_blocks",
                       help="partial: how many of the network's last blocks train")
    train.add_argument("--recipe", choices=("tutorial",),
                       help="use the beginners' tutorial's fine-tuning recipe")
    train.add_argument("--backbone", choices=sorted(BACKBONES),
                       help=f"the network to train (default {DEFAULT_BACKBONE})")
    train.add_argument("--resume", metavar="RUN",
                       help="carry on a stopped or interrupted fine-tune after its last epoch: "
                            "its run id (see 'runs'), run folder or checkpoint file; it keeps "
                            "its own settings")
    train.add_argument("--multi-label", action="store_true",
                       help="each photo may have several labels (or none): DATA holds "
                            "labels.csv (path,labels), or class folders that share photos; "
                            "implied when DATA holds labels.csv")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, dest="learning_rate")
    train.add_argument("--image-size", type=int)
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--patience", type=int, dest="early_stopping_patience",
                       help="epochs without improvement before stopping (0: never)")
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                       help="fine-tuning on CUDA: half-precision autocast (auto: bf16 where "
                            "supported); CPUs always use fp32")
    add_split_options(train)
    add_output_options(train)
    add_feature_precision_option(train)
    # None: not given, so --resume can tell the flags a user set from the run's own settings.
    train.set_defaults(handler=_train, seed=None, val_fraction=None, test_fraction=None)


def _train(args: argparse.Namespace) -> int:
    from training.cli import multilabel
    from training.fitting.distributed import from_environment
    from training.fitting.trainer import fit

    if multilabel.wanted(args):
        if args.mode == "partial":
            raise CheetahLionError("--mode partial trains single-label models for now: use "
                                   "--mode quick or --mode finetune with multi-label data.")
        return multilabel.train(args, lambda: _config(args, None),
                                lambda bars: _ProgressPrinter(args, bars))
    me = from_environment()
    if me.distributed:
        print(f"training process rank {me.rank} of {me.world_size}", file=sys.stderr)
    if not me.is_main:  # rank 0 speaks for all of them
        args.quiet, args.json = True, False
    dataset = usable_dataset(args)
    config = _config(args, dataset)
    cancel = threading.Event()
    with PhaseBars(args) as bars:
        progress = _ProgressPrinter(args, bars)
        result = run_cancellable(
            lambda: fit(config, dataset, progress, cancel, output=args.output,
                        resume=args.resume), cancel
        )
    if me.is_main:
        with sigint_ignored():  # the run is over and recorded: Ctrl+C now changes nothing
            _report(args, result, config)
    return 0 if result.model_path else EXIT_INTERRUPTED


def _config(args: argparse.Namespace, dataset: Any) -> Any:
    """The `TrainConfig` the options ask for: a preset with the flags given on top, or, with
    --resume, the run's own settings with those flags (which `fit` checks against the run)."""
    from training.fitting.checkpoint import find_checkpoint, load_checkpoint
    from training.records.config import TrainConfig

    overrides = {
        key: value for key, value in {
            "backbone": args.backbone, "epochs": args.epochs, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "image_size": args.image_size,
            "augment": args.augment, "early_stopping_patience": args.early_stopping_patience,
            "device": args.device, "precision": args.precision, "seed": args.seed,
            "top_blocks": args.top_blocks,
            "val_fraction": args.val_fraction, "test_fraction": args.test_fraction,
        }.items() if value is not None
    }
    if args.resume:
        if args.recipe:
            raise CheetahLionError("--recipe and --resume do not go together: a resumed run "
                                   "keeps the settings it started with.")
        saved = load_checkpoint(find_checkpoint(args.resume, dataset.root))
        if args.mode:
            overrides["mode"] = args.mode
        # fit refuses any setting that differs from the run's (but the device).
        config = TrainConfig.from_dict({**saved.info.config, **overrides})
        if not (args.quiet or args.json):
            print(f"resuming run {saved.info.run_id} after epoch {saved.state.epoch} "
                  f"of {config.epochs}")
        return config
    if args.recipe == "tutorial":
        return TrainConfig.tutorial_recipe(**overrides)
    if args.mode == "finetune":
        return TrainConfig.finetune(**overrides)
    if args.mode == "partial":
        return TrainConfig.partial(**overrides)
    return TrainConfig.quick(**overrides)


class _ProgressPrinter:
    """The training callback: a line per run start and epoch, a bar per phase and for the
    steps. Silent with --quiet or --json (and on every rank but 0)."""

    def __init__(self, args: argparse.Namespace, bars: PhaseBars) -> None:
        self.args, self.bars = args, bars
        self.total_steps: list[int] = []

    def __call__(self, event: object) -> None:
        if self.args.quiet or self.args.json:
            return
        if isinstance(event, RunStarted):
            tqdm.write(f"{event.mode} training of {event.backbone} on {event.device}: "
                       f"{event.train_images} training / {event.val_images} validation images")
            self.total_steps.append(event.total_steps)
        elif isinstance(event, PhaseProgress):
            self.bars.update(event)
        elif isinstance(event, StepEnded):
            bar = self.bars.bar("train", self.total_steps[0], "step")
            bar.update(event.step - bar.n)
            bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.3f}")
        elif isinstance(event, EpochEnded):
            tqdm.write(f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.3f} "
                       f"acc {event.train_accuracy:.3f} | val loss {event.val_loss:.3f} "
                       f"acc {event.val_accuracy:.3f}{'  (best)' if event.is_best else ''}")


def _report(args: argparse.Namespace, result: Any, config: Any) -> None:
    """The run's result: warnings on stderr, then JSON or a line and the model's path."""
    from training.models.frozen import features_used

    frozen = _frozen_use(result, config)
    balance = result.balance
    summary = {
        "model": result.model_path, "run_id": result.run_id, "stopped": result.stopped,
        "best_epoch": result.best_epoch, "val_accuracy": result.best_val_accuracy,
        "val_balanced_accuracy": balance.balanced_accuracy if balance else None,
        "val_recall": balance.recall if balance else None,
        "val_support": balance.support if balance else None,
        "logit_adjustment": balance.logit_adjustment if balance else None,
        "val_loss": result.best_val_loss if result.history else None,
        "baseline_accuracy": result.baseline_accuracy,
        "trained_share": result.kept.trained_share if result.kept else None,
        "seconds": round(result.seconds, 2),
        "warnings": list(result.warnings),
        **_against_quick(result, config),
        "features": features_used(),
        "frozen_features": frozen.to_dict() if frozen else None,
    }
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(summary)
    elif result.model_path is None:
        print("stopped before the first epoch finished: no model was saved")
    else:  # the words the app shows (training.records.run_summary)
        share = result.kept.trained_share if result.kept else None
        ended = why_it_ended(result.stopped, len(result.history), config.epochs,
                             config.early_stopping_patience)
        if config.mode == "partial":  # its share is against quick mode, not ImageNet's
            share = None
        gained = what_it_gained(result.best_val_accuracy, result.baseline_accuracy, share)
        print(f"{ended}: {gained}; best epoch {result.best_epoch}, {result.seconds:.1f} s")
        if config.mode == "partial" and result.kept:
            kept = result.kept
            print(against_quick_mode(kept.val_accuracy, kept.trained_share, kept.start_accuracy))
        elif result.kept_note:
            print(result.kept_note)
        if balance is not None:
            print(balanced_line(balance))
        if frozen is not None:
            print(describe_frozen(frozen.runtime, frozen.precision))
        print(f"model saved to {result.model_path}")


def _frozen_use(result: Any, config: Any) -> Any:
    """What ran the frozen network the saved head was trained on (its file's `FrozenUse`);
    None without a model, or for a whole-network fine-tune, which runs no frozen network."""
    from training.records.runtime_words import FrozenUse

    if result.model is None or config.mode == "finetune":
        return None
    return FrozenUse.of_header(result.model.metadata)


def _against_quick(result: Any, config: Any) -> dict[str, Any]:
    """A partial fine-tune's figures beside quick mode's on the same split (its start)."""
    if config.mode != "partial":
        return {}
    kept = result.kept
    quick = kept.start_accuracy if kept else None
    return {"quick_val_accuracy": quick,
            "gained_over_quick": (result.best_val_accuracy - quick) if kept else None}


def balanced_line(balance: BalancedScores) -> str:
    """"validation balanced accuracy 0.812 (recall: cheetah 0.950, jaguar 0.667, …)", the
    rare-class adjustment when one was made, and the classes too small to trust."""
    recalls = ", ".join(f"{name} {recall:.3f}" for name, recall in balance.recall.items())
    line = f"validation balanced accuracy {balance.balanced_accuracy:.3f} (recall: {recalls})"
    if balance.logit_adjustment:
        line += f"; adjusted for rare classes (tau {balance.logit_adjustment:g})"
    note = small_class_note(balance.support)
    return line + (f"\n{note}" if note else "")
