"""What ran the frozen network, in the words the window shows ("onnxruntime · 8-bit").

A local stand-in for the engine's shared wording (`training.records.runtime_words.
describe_frozen`, being written beside this): same arguments and behaviour, so the window
switches to it by changing one import. Qt-free and torch-free: the GUI thread calls it.
"""

from __future__ import annotations

PRECISION_WORDS = {"int8": "8-bit", "float": "float"}
STORED = "stored"
"""The engine's runtime word when every photo's features came from the feature store
(`training.models.frozen.features_used()` says "stored float")."""


def describe_frozen(runtime: str | None, precision: str | None) -> str:
    """"onnxruntime · 8-bit", "onnxruntime · float", "pytorch · float", or "stored float
    features" when nothing ran the network (`runtime` None or "stored"). PyTorch always
    computes in float; an unknown precision is shown as it is."""
    words = PRECISION_WORDS.get(precision or "float", precision or "float")
    if runtime in (None, STORED):
        return f"stored {words} features"
    if runtime == "pytorch":
        words = "float"
    return f"{runtime} · {words}"


def describe_features(label: str | None) -> str | None:
    """The engine's one-word-pair label ("onnxruntime int8", "pytorch", "stored float", as
    `prepare_frozen_runtime` and `features_used` return it) in the window's words; None for
    None (no frozen pass yet)."""
    if not label:
        return None
    runtime, _, precision = label.partition(" ")
    return describe_frozen(runtime, precision or None)

