"""Which runtime and precision ran the frozen network, as a record and in words.

The same network gives slightly different features in float and in 8 bits
(docs/benchmarks.md, "8-bit frozen graph"), and a head trained on one kind loses accuracy on
the other. So a model file records what its head was trained on (`FrozenUse`, under the
header's `HEADER_KEY`), every front end says what ran (`describe_frozen`, one wording for the
CLI and the app), and a model used on the other kind says whether that was checked
(`FrozenRun.describe`). Torch-free: the GUI thread imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEADER_KEY = "frozen_features"
"""The model header's record of the features its head was trained on: {"precision": "float"
or "int8", "runtime": "onnxruntime", "pytorch" or null, "settings": the 8-bit graph's settings
tag or null}. Absent (files before it): float."""
PRECISIONS = ("float", "int8")
RUNTIMES = ("onnxruntime", "pytorch")
_PRECISION_WORDS = {"float": "float", "int8": "8-bit"}
_RUNTIME_WORDS = {"onnxruntime": "onnxruntime", "pytorch": "PyTorch"}
STORED = "stored"
"""The runtime word of `training.models.frozen.features_used` when nothing ran the network."""


@dataclass(frozen=True)
class FrozenUse:
    """What computed features: `runtime` ("onnxruntime", "pytorch"; None when every
    photo's features came from the feature store), `precision` ("float" or "int8") and, for
    8 bits, the graph's `settings` tag (`training.models.int8_features.settings_tag`: another
    kind of processor makes other 8-bit features; None for float and for older files)."""

    precision: str = "float"
    runtime: str | None = None
    settings: str | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision is {self.precision!r}, not one of "
                             f"{', '.join(PRECISIONS)}")
        if self.runtime is not None and self.runtime not in RUNTIMES:
            raise ValueError(f"runtime is {self.runtime!r}, not one of {', '.join(RUNTIMES)} "
                             "or null")
        if self.settings is not None and not isinstance(self.settings, str):
            raise ValueError(f"settings is {self.settings!r}, not a string or null")

    def to_dict(self) -> dict[str, Any]:
        """The header's object; "settings" only for 8 bits (float files keep their form)."""
        settings = {} if self.settings is None else {"settings": self.settings}
        return {"precision": self.precision, "runtime": self.runtime, **settings}

    @classmethod
    def from_dict(cls, data: Any) -> FrozenUse:
        """From a header's `HEADER_KEY` object; ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("is not an object with \"precision\" and \"runtime\"")
        unknown = sorted(set(data) - {"precision", "runtime", "settings"})
        if unknown:
            raise ValueError(f"has the unknown field {unknown[0]!r}")
        return cls(data.get("precision"), data.get("runtime"), data.get("settings"))

    @classmethod
    def of_header(cls, header: dict[str, Any]) -> FrozenUse:
        """A checked header's record; float (runtime unknown) for files before it."""
        return cls.from_dict(header[HEADER_KEY]) if HEADER_KEY in header else cls()


def frozen_words(runtime: str | None, precision: str | None) -> str:
    """"onnxruntime · 8-bit", "PyTorch · float", or "stored float features" when every
    photo's features were already stored (`runtime` None or "stored"): the short form the
    app's status bar, gallery, finder and Train page show. PyTorch always runs float."""
    words = _PRECISION_WORDS.get(precision or "float", str(precision))
    if runtime in (None, STORED):
        return f"stored {words} features"
    if runtime == "pytorch":
        words = _PRECISION_WORDS["float"]
    return f"{_RUNTIME_WORDS.get(runtime, runtime)} · {words}"


def describe_frozen(runtime: str | None, precision: str | None) -> str:
    """"Frozen network: onnxruntime · 8-bit", or "Frozen network: not run (stored float
    features)": `frozen_words` as a line of its own (the CLI's)."""
    if runtime in (None, STORED):
        return f"Frozen network: not run ({frozen_words(None, precision)})"
    return f"Frozen network: {frozen_words(runtime, precision)}"


def label_words(label: str | None) -> str | None:
    """The engine's label of what ran ("onnxruntime int8", "pytorch", "stored float", as
    `prepare_frozen_runtime` and `features_used` give it) as `frozen_words`; None for None
    (no frozen pass yet)."""
    if not label:
        return None
    runtime, _, precision = label.partition(" ")
    return frozen_words(runtime, precision or None)


@dataclass(frozen=True)
class PreparedRuntime:
    """What `training.prepare_frozen_runtime` made ready for the process's precision."""

    label: str
    """What runs the frozen network as the engine says it: "onnxruntime int8",
    "onnxruntime float" or "pytorch" (`label_words` puts it in the app's words)."""
    float_because: str | None = None
    """Where 8 bits were asked for ("auto") and float runs, why; None otherwise."""


@dataclass(frozen=True)
class FrozenRun:
    """What ran a model's frozen network when it classified or was evaluated.

    `trained`: the precision its head was trained on (the model file's `FrozenUse`);
    `check`: when the precisions differ, how the 8-bit graph agreed with the float one on
    this model's own classifier, or why that could not be checked; `note`: why the precision
    the model asked for was not used (None when it was)."""

    runtime: str | None
    precision: str
    trained: str = "float"
    check: str | None = None
    note: str | None = None

    @property
    def mixed(self) -> bool:
        """The features are of another kind than the head was trained on."""
        return self.precision != self.trained

    def describe(self) -> str:
        """`describe_frozen`, and for a mixed run what was trained and what was checked."""
        line = describe_frozen(self.runtime, self.precision)
        if self.mixed:
            trained = _PRECISION_WORDS[self.trained]
            line += (f"; the model was trained on {trained} features"
                     + (f", {self.check}" if self.check else ", not checked"))
        return line

    def to_dict(self) -> dict[str, Any]:
        """For a CLI's --json."""
        return {"runtime": self.runtime, "precision": self.precision,
                "trained_precision": self.trained, "mixed": self.mixed,
                "check": self.check, "note": self.note}
