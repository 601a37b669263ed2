"""Entry point of the desktop app; safe to freeze with PyInstaller.

The window is shown before torch is imported: the engine's heavy modules load in a worker
after the first paint, so a cold start paints sooner than `import torch` alone takes.
`--self-test` and `--exit-after-paint` check a build (cheetahlion_gui.self_test).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import traceback
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from types import TracebackType

from training.core import paths

log = logging.getLogger("cheetahlion")


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()
    _ensure_standard_streams()
    args = _parse(argv)
    if args.self_test:
        from cheetahlion_gui.self_test import temporary_home

        with temporary_home() as workspace:
            return _run(args, workspace)
    return _run(args, None)


def _run(args: argparse.Namespace, self_test_workspace: Path | None) -> int:
    """Start the app; with a workspace, run the self-test in it and return its status."""
    _configure_caches()
    _configure_logging()

    from PySide6.QtWidgets import QApplication

    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.resources import icon, style_sheet
    from cheetahlion_gui.settings import Settings

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("CheetahLion")
    app.setOrganizationName("CheetahLion")
    app.setWindowIcon(icon("cheetahlion.svg"))
    app.setStyleSheet(style_sheet())
    sys.excepthook = _show_unexpected_error
    window = MainWindow(Settings.load())
    window.show()
    if self_test_workspace is not None:
        from cheetahlion_gui.self_test import SelfTest

        test = SelfTest(window, self_test_workspace, args.self_test_timeout)
        test.start()
        app.exec()
        return test.exit_code
    if args.exit_after_paint:
        from cheetahlion_gui.self_test import FirstPaint

        FirstPaint(window)
    elif args.data:  # the scan's worker imports torch: after the first frame, like the warm-up
        window.after_first_paint(partial(window.open_dataset, Path(args.data)))
    return app.exec()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cheetahlion", description="CheetahLion desktop app")
    parser.add_argument("--data", metavar="FOLDER", help="open this dataset folder on start")
    check = parser.add_argument_group("checking a build")
    check.add_argument("--self-test", action="store_true",
                       help="train, evaluate and classify a small synthetic dataset through "
                            "the window, print one line with the outcome, and exit (0: passed)")
    check.add_argument("--self-test-timeout", type=float, default=600.0, metavar="SECONDS",
                       help="fail the self-test if it has not finished by then (default 600)")
    check.add_argument("--exit-after-paint", action="store_true",
                       help="print 'painted at <epoch seconds>' once the window is first "
                            "painted, then quit (start-up benchmarks)")
    return parser.parse_args(argv)


def _ensure_standard_streams() -> None:
    """Windowed frozen apps have no stdout/stderr; progress bars and prints need one."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def _configure_caches() -> None:
    """Downloads (torch hub, Hugging Face) go under CheetahLion's own cache folder."""
    cache = paths.cache_dir()
    os.environ.setdefault("TORCH_HOME", str(cache / "torch"))
    os.environ.setdefault("HF_HOME", str(cache / "huggingface"))


def _configure_logging() -> None:
    folder = paths.log_dir()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(folder / "cheetahlion.log", encoding="utf-8"))
    except OSError:
        pass
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _show_unexpected_error(kind: type[BaseException], error: BaseException,
                           trace: TracebackType | None) -> None:
    """Log any uncaught error and show it, instead of a silent exit."""
    details = "".join(traceback.format_exception(kind, error, trace))
    log.error("unexpected error\n%s", details)
    from PySide6.QtWidgets import QApplication

    from cheetahlion_gui.dialogs import show_error

    show_error(QApplication.activeWindow(), "Unexpected error",
               f"Something went wrong: {error}. Details are in {paths.log_dir()}.", details)


if __name__ == "__main__":
    sys.exit(main())
