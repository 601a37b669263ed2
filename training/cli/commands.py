"""`cheetahlion-cli`: everything the app does, from a terminal.

    cheetahlion-cli scan DATA                    check a dataset folder
    cheetahlion-cli baseline DATA                zero-shot ImageNet accuracy, no training
    cheetahlion-cli train DATA -o MODEL          train (quick by default; --mode finetune)
    cheetahlion-cli train DATA -o MODEL --resume RUN   carry a stopped fine-tune on
    cheetahlion-cli compare DATA [--networks a,b]   a quick head per network, side by side
    cheetahlion-cli evaluate MODEL DATA          accuracy, confusion matrix, worst mistakes
    cheetahlion-cli predict MODEL PATH... [--csv FILE]   ("none of these" for strangers)
    cheetahlion-cli export MODEL --format onnx|torchscript|pt2 -o FILE
    cheetahlion-cli runs DATA                    the history of runs on a dataset
    cheetahlion-cli backbones                    the networks you can train

and the clean-up (`suspects`, `move`, `keep`, `moves`, `undo`, `label`), `explain`,
`thresholds` (a model's per-class thresholds) and `next-to-label` (the photos worth
labelling first) commands. Each
family of commands lives in its own module (`COMMAND_MODULES`); this one assembles the parser
and turns errors into exit codes.

User errors print one line and exit 1; usage errors exit 2; Ctrl+C during training stops at
the next batch and still saves the best model. `--json` prints machine-readable output.

`train` also runs under torchrun (`torchrun --nproc_per_node=N -m training.cli train ...`):
each process says which rank it is on stderr; only rank 0 shows progress and the result.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from importlib import import_module

from training.cli.support import EXIT_INTERRUPTED, EXIT_USER_ERROR
from training.core.errors import CheetahLionError

COMMAND_MODULES: tuple[str, ...] = (
    "training.cli.dataset", "training.cli.train", "training.cli.compare", "training.cli.predict",
    "training.cli.inventory", "training.cli.cleanup", "training.cli.labels",
    "training.cli.explain", "training.cli.thresholds", "training.cli.labelling",
)
"""Modules that each add sub-commands through `register(commands)`, in help order."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _feature_precision(getattr(args, "feature_precision", None)):
            status = int(args.handler(args) or 0)
    except CheetahLionError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if argv is None and threading.current_thread() is threading.main_thread():
        # The program itself (not a caller in Python): its outcome is decided, so a Ctrl+C
        # while the interpreter shuts down (torch's teardown takes a moment) changes nothing.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return status


@contextlib.contextmanager
def _feature_precision(value: str | None) -> Iterator[None]:
    """--feature-precision for the command's duration (a caller in Python keeps its own)."""
    if value is None:
        yield
        return
    from training.core.runtime import PRECISION_ENV, set_frozen_precision

    before = os.environ.get(PRECISION_ENV)
    set_frozen_precision(value)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PRECISION_ENV, None)
        else:
            os.environ[PRECISION_ENV] = before


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every module of `COMMAND_MODULES` adds its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="cheetahlion-cli",
        description="Fine-tune a pretrained image classifier on your photo folders.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
