"""Entry point of the desktop app; safe to freeze with PyInstaller.

The window is shown before torch is imported: the engine's heavy modules load in a worker
after the first paint, so a cold start paints sooner than `import torch` alone takes.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from training import paths

log = logging.getLogger("cheetahlion")


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()
    _ensure_standard_streams()
    args = _parse(argv)
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
    if args.data:
        window.open_dataset(Path(args.data))
    return app.exec()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cheetahlion", description="CheetahLion desktop app")
    parser.add_argument("--data", metavar="FOLDER", help="open this dataset folder on start")
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
