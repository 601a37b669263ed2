"""`cheetahlion-cli compare`: a quick head on each network, and a table to choose from.

    cheetahlion-cli compare DATA [--networks a,b] [--json]

Every network trains on the same split (the seed's); each run is recorded in the run
history and keeps its model, so the one chosen needs no training again. Ctrl+C stops the
current network (its best head so far is kept) and starts no other.
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
    EXIT_USER_ERROR,
    PhaseBars,
    add_output_options,
    add_split_options,
    print_json,
    run_cancellable,
    usable_dataset,
)
from training.core.errors import ConfigError
from training.records.events import PhaseProgress, StepEnded


def register(commands: Any) -> None:
    from training.records.backbones import OFFLINE_BACKBONES

    compare = commands.add_parser(
        "compare", help="train a quick head on each network and compare them")
    compare.add_argument("data", type=Path)
    compare.add_argument(
        "--networks", type=_names, default=OFFLINE_BACKBONES, metavar="A,B",
        help=f"comma-separated networks (see 'backbones'; default the offline ones: "
             f"{','.join(OFFLINE_BACKBONES)})")
    compare.add_argument("--epochs", type=int, help="epochs of each quick head (default 30)")
    compare.add_argument("--image-size", type=int,
                         help="one input size for every network (default: each its own)")
    compare.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    add_split_options(compare)
    add_output_options(compare)
    compare.set_defaults(handler=_compare)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("name at least one network")
    return names


def _compare(args: argparse.Namespace) -> int:
    from training.fitting.compare import compare_networks
    from training.records.comparison import best_comparison
    from training.records.config import TrainConfig

    overrides = {key: value for key, value in {
        "epochs": args.epochs, "image_size": args.image_size}.items() if value is not None}
    config = TrainConfig.quick(seed=args.seed, val_fraction=args.val_fraction,
                               test_fraction=args.test_fraction, device=args.device,
                               **overrides)
    _check_names(args.networks)
    dataset = usable_dataset(args)
    cancel = threading.Event()
    with PhaseBars(args) as bars:
        rows = run_cancellable(
            lambda: compare_networks(dataset, args.networks, config,
                                     _ProgressPrinter(args, bars), cancel), cancel)
    best = best_comparison(rows)
    if args.json:
        print_json({"networks": rows, "best": best.network if best else None,
                    "split_seed": args.seed})
    else:
        _print_table(rows, best)
    for row in rows:
        if row.error:
            print(f"error: {row.network}: {row.error}", file=sys.stderr)
    if cancel.is_set():
        return EXIT_INTERRUPTED
    return 0 if best is not None else EXIT_USER_ERROR


def _check_names(names: tuple[str, ...]) -> None:
    """Unknown names are refused before the dataset is scanned."""
    from training.records.backbones import BACKBONES

    unknown = [name for name in names if name not in BACKBONES]
    if unknown:
        raise ConfigError(f"Unknown network {', '.join(map(repr, unknown))}. Choose from: "
                          f"{', '.join(BACKBONES)}.")


class _ProgressPrinter:
    """A line per network, a bar per phase. Silent with --quiet or --json."""

    def __init__(self, args: argparse.Namespace, bars: PhaseBars) -> None:
        self.shown = not (args.quiet or args.json)
        self.bars = bars

    def __call__(self, event: object) -> None:
        from training.records.comparison import ComparisonStarted

        if not self.shown:
            return
        if isinstance(event, ComparisonStarted):
            tqdm.write(f"[{event.index}/{event.total}] {event.title}")
        elif isinstance(event, PhaseProgress):
            self.bars.update(event)
        elif isinstance(event, StepEnded):
            bar = self.bars.bar("train", event.total_steps, "step")
            bar.update(event.step - bar.n)


HEADERS = ("network", "val acc", "val loss", "baseline", "seconds", "img/s", "MB")
ROW = "{} {:<20} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6}"


def table_lines(rows: list[Any], best: Any) -> list[str]:
    """The comparison as aligned text, the recommended network marked with '*'."""
    lines = [ROW.format(" ", *HEADERS)]
    for row in rows:
        mark = "*" if row is best else " "
        if row.error:
            lines.append(f"{mark} {row.network:<20} failed (see below)")
            continue
        lines.append(ROW.format(
            mark, row.network, _number(row.val_accuracy, 3), _number(row.val_loss, 3),
            _number(row.baseline_accuracy, 3), _number(row.seconds, 1),
            _number(row.images_per_second, 1), _number(row.model_mb, 1),
        ) + ("  (cancelled)" if row.stopped == "cancelled" else ""))
    return lines


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_table(rows: list[Any], best: Any) -> None:
    for line in table_lines(rows, best):
        print(line)
    if best is not None:
        print(f"* best here: {best.network} (model {best.model_path}, run {best.run_id})")
