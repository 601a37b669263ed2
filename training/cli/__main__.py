"""`python -m training.cli` (and torchrun's `-m training.cli`)."""

import sys

from training.cli.commands import main

sys.exit(main())
