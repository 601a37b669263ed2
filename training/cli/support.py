"""What every `cheetahlion-cli` command shares: option sets, progress bars, JSON output.

Each command module (those `training.cli.commands.COMMAND_MODULES` names) builds its
sub-commands with these, so every command takes `--json`/`--quiet`, reports progress the
same way and lists image folders by the same rules.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.core.errors import CheetahLionError
from training.data.listing import ImageListing

EXIT_USER_ERROR = 1
"""Exit code of a command that stopped on the user's mistake (a message says which)."""
EXIT_INTERRUPTED = 130
"""Exit code of a command stopped by Ctrl+C (128 + SIGINT), as shells report it."""


def add_split_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--test-fraction", type=float, default=0.0)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_feature_precision_option(parser: argparse.ArgumentParser,
                                  with_model: bool = False) -> None:
    """--feature-precision, for commands that run the frozen network (applied by `main`;
    `with_model`: a command using a model file, whose own precision is the default)."""
    default = ("the precision the model was trained on (float for older files); another is "
               "checked against the model's classifier" if with_model
               else "float, or CHEETAHLION_PRECISION")
    parser.add_argument("--feature-precision", choices=("auto", "float", "int8"),
                        help="frozen features on the CPU: float, auto (8-bit where it "
                             "classified as accurately as float, on processors with VNNI, and "
                             "this machine measured it faster; float elsewhere), or int8 "
                             "(8-bit wherever it runs; fails if the 8-bit graph is refused); "
                             f"default: {default}. 8-bit lost accuracy on small grey photos "
                             "(7-bit weights) or in 'none of these' (docs/benchmarks.md)")


def scan_with_progress(args: argparse.Namespace) -> Any:
    from training.data.scanning import scan_dataset

    bar = tqdm(desc="scan", unit="img", disable=args.quiet or args.json, leave=False)

    def update(event: Any) -> None:
        bar.total = event.total
        bar.update(event.done - bar.n)

    try:
        return scan_dataset(args.data, progress=update)
    finally:
        bar.close()


def usable_dataset(args: argparse.Namespace) -> Any:
    dataset = scan_with_progress(args)
    if not dataset.report.can_train:
        raise CheetahLionError(dataset.report.errors[0].message)
    return dataset


class ProgressBar:
    """A tqdm bar: `with ProgressBar(...) as update: update(done)` (or a PhaseProgress)."""

    def __init__(self, args: argparse.Namespace, description: str, total: int) -> None:
        self.bar = tqdm(total=total, desc=description, unit="img",
                        disable=args.quiet or args.json, leave=False)

    def __enter__(self) -> Callable[[Any], None]:
        def update(progress: Any) -> None:
            done = progress if isinstance(progress, int) else progress.done
            self.bar.update(done - self.bar.n)
        return update

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


class PhaseBars:
    """One tqdm bar per phase of a long job (decode, features, train …): the current phase's
    bar is shown and the previous one closed. Silent with --quiet or --json."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.shown = not (args.quiet or args.json)
        self._bars: dict[str, tqdm] = {}

    def __enter__(self) -> PhaseBars:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self._bars.values():
            bar.close()

    def bar(self, phase: str, total: int, unit: str = "img") -> tqdm:
        """The phase's bar, made on first use (which closes the other phases' bars)."""
        if phase not in self._bars:
            for other in self._bars.values():
                other.close()
            self._bars[phase] = tqdm(total=total, desc=phase, unit=unit, leave=False,
                                     disable=not self.shown)
        bar = self._bars[phase]
        bar.total = total
        return bar

    def update(self, event: Any) -> None:
        """Move a `PhaseProgress` event's bar to its `done` count."""
        bar = self.bar(event.phase, event.total)
        bar.update(event.done - bar.n)


def run_cancellable(work: Callable[[], Any], cancel: threading.Event) -> Any:
    """Run `work` in a thread so that Ctrl+C sets `cancel` and the best model is still saved.

    The first Ctrl+C (SIGINT) only sets `cancel`: the work stops at its next batch boundary,
    saves what it has and returns normally. A second Ctrl+C ends the process at once with
    exit code 130, as a user pressing it twice expects.

    SIGINT is handled by a signal handler rather than by catching KeyboardInterrupt, because
    a KeyboardInterrupt raised inside `Thread.join` can leave CPython believing the thread has
    ended while it still runs; the process then exits under the training thread and dies in
    C++ ("terminate called without an active exception"), losing the model.
    """
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:
            outcome["error"] = error
        finally:
            finished.set()

    thread = threading.Thread(target=target, name="train", daemon=True)
    with _sigint_sets(cancel):
        thread.start()
        while not finished.wait(0.2):
            pass
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextmanager
def _sigint_sets(cancel: threading.Event) -> Iterator[None]:
    """While inside, the first SIGINT sets `cancel` and a second one exits with code 130.

    Outside the main thread (where Python allows no signal handlers) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(_signal: int, _frame: object) -> None:
        if cancel.is_set():
            print("\ninterrupted again: stopping now without saving", file=sys.stderr)
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        cancel.set()
        print("\nstopping after this batch (the best model so far is kept; press Ctrl+C "
              "again to stop at once)…", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """While inside, Ctrl+C does nothing: the command's outcome is decided (a model saved and
    recorded as completed must not end in exit 130 because Ctrl+C came while it was being
    reported). Outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def images_in(paths: Sequence[Path]) -> ImageListing:
    """The images among `paths` (see `training.data.listing`); a user error when there are none."""
    from training.data.listing import list_images

    listing = list_images(paths)
    if not listing.images:
        skipped = "".join(f"\n  {item.path} {item.reason}" for item in listing.skipped[:5])
        raise CheetahLionError("No images found in " + ", ".join(map(str, paths)) +
                               ". Give image files or folders that contain images." +
                               (f" Skipped:{skipped}" if skipped else ""))
    return listing


def report_skipped(listing: ImageListing) -> None:
    """Name every file left out of `listing` on stderr, one line each."""
    for item in listing.skipped:
        print(f"skipped: {item.path} {item.reason}", file=sys.stderr)


def to_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: to_json(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def print_json(value: Any) -> None:
    json.dump(to_json(value), sys.stdout, indent=2, ensure_ascii=False, default=str)
    print()


def print_frozen_run(frozen: Any, stream: Any = None) -> None:
    """What ran the frozen network (`FrozenRun.describe`), and why 8-bit was not used when
    the model asked for it (on stderr unless `stream` is given)."""
    stream = stream or sys.stderr
    if frozen.note:
        print(f"note: {frozen.note}", file=stream)
    print(frozen.describe(), file=stream)
