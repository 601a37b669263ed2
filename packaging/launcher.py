"""The frozen bundle's one entry script: the executable's name picks the app or the CLI.

`packaging/cheetahlion.spec` builds two executables from one analysis, sharing every
library in one folder: `cheetahlion` (windowed) and `cheetahlion-cli` (a console twin that
runs the headless command line, and shows everything on the terminal when debugging).
Both run this script, so one ~4 GB set of libraries serves both.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

CLI_NAME = "cheetahlion-cli"


def main() -> int:
    # First of all: fine-tuning runs in a spawned child, which starts this same executable
    # again; freeze_support() turns that start into the child (or the resource tracker)
    # before anything else parses the command line.
    multiprocessing.freeze_support()
    if Path(sys.executable).stem == CLI_NAME:
        from training.cli import main as cli_main

        return cli_main()
    from cheetahlion_gui.app import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
