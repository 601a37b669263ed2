"""After start-up, and when the user changes the frozen network's precision: apply it and
make the fast runtime ready for the default network, in the background."""

from __future__ import annotations

from dataclasses import dataclass

from cheetahlion_gui.jobs.runner import Job


@dataclass(frozen=True)
class RuntimePrepared:
    """What the preparation chose for the precision the user asked for."""

    features: str
    """What will run the frozen network, as the engine says it: "onnxruntime int8",
    "onnxruntime float" or "pytorch" (`training.prepare_frozen_runtime`'s label)."""
    wanted: str
    """The precision asked for: "float", "int8" or "auto"."""
    refused: str | None = None
    """Why 8-bit was asked for and cannot be used (float is used instead); None otherwise."""
    automatic_float: str | None = None
    """Why "auto" chose float on this computer (no VNNI, not faster…); None otherwise."""


class FastInferenceJob(Job):
    """Set the engine's frozen precision to `precision`, then prepare its runtime.

    On the first start on a machine this exports the default network's ONNX graph (about
    ten seconds on two cores) and checks it against PyTorch; with 8-bit (or "auto") it also
    quantizes, checks and times the 8-bit graph (10–25 s more, once per machine). Later
    starts find them at once. Done here, the finder, quick training and classification of
    even a handful of photos get the faster runtime from their first batch. The setting is
    applied here, not on the GUI thread: the engine module that holds it loads torch.

    Where 8-bit was asked for and cannot be built or was refused, the process goes on in
    float and the result says why.
    """

    def __init__(self, precision: str = "float") -> None:
        super().__init__()
        self.precision = precision

    def work(self) -> RuntimePrepared:
        from training import (
            EightBitUnavailableError,
            prepare_frozen_runtime,
            set_frozen_precision,
        )

        set_frozen_precision(self.precision)
        try:
            prepared = prepare_frozen_runtime()
        except EightBitUnavailableError as error:
            set_frozen_precision("float")
            return RuntimePrepared(prepare_frozen_runtime().label, self.precision,
                                   error.reason)
        return RuntimePrepared(prepared.label, self.precision,
                               automatic_float=prepared.float_because)

