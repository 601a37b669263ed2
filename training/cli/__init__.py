"""`cheetahlion-cli`: every command the app has, from a terminal (see `commands`)."""

from training.cli.commands import main

__all__ = ["main"]
