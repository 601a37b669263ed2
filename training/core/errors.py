"""User-facing errors.

Every error the engine raises on purpose derives from `CheetahLionError` and carries a
message written for a person who has never seen a traceback: what went wrong, which file,
and what to do about it. The CLI prints `str(error)` and exits non-zero; the GUI shows it in
a dialog. Anything else that escapes is a bug.
"""

from __future__ import annotations


class CheetahLionError(Exception):
    """A problem the user can fix; the message says how."""


class DatasetError(CheetahLionError):
    """The dataset folder cannot be used for training as it is."""


class ImageError(CheetahLionError):
    """One image file cannot be used; the message names the file."""


class ModelFileError(CheetahLionError):
    """A model file cannot be read, or was written for something else."""


class ConfigError(CheetahLionError):
    """A training setting is out of range."""


class EightBitUnavailableError(ConfigError):
    """8-bit features were asked for and cannot be used; `reason` says why in plain words
    (the message adds what to do on the command line)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BackboneUnavailableError(CheetahLionError):
    """A backbone's pretrained weights are not on this machine and cannot be downloaded."""


class ExportError(CheetahLionError):
    """A model could not be exported, or the export did not predict like the app."""
