"""The frozen network's precision for the whole window: the user's setting applied at
start-up and whenever it changes, its runtime prepared in the background, and what runs it
told to the status bar.

The precision is process-wide in the engine (`training.set_frozen_precision`), so it is
changed only while no job of the window runs: a job that computes features twice (quick
training's, then its model's novelty calibration) must see one precision. A change made
while a job runs waits for it, and the status bar says so.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QWidget

from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.fast_inference import FastInferenceJob, RuntimePrepared
from cheetahlion_gui.jobs.runner import JobRunner
from cheetahlion_gui.settings import Settings
from training.records.runtime_words import label_words

PRECISION_CHOICES = (
    ("float", "Float", "Most accurate. The default."),
    ("auto", "Automatic", "8-bit where it classified as accurately as float on this kind of "
                          "processor and this computer measured it faster; float elsewhere. "
                          "\u201cNone of these\u201d then misses more unknown look-alikes."),
    ("int8", "8-bit", "Faster on most processors; may lose accuracy on small or grey "
                      "photos."),
)
"""(setting, name, what it means) of each choice, in the order the Preferences list them."""
CHOICE_NAMES = {value: name for value, name, _ in PRECISION_CHOICES}
WAIT_POLL_MS = 500
"""How often a change waiting for the window's jobs looks whether they have ended."""


class FrozenRuntime(QObject):
    """Applies `settings.frozen_precision` and prepares its runtime, one job at a time."""

    described = Signal(str, str)
    """(words, tooltip): what runs the frozen network, for the status bar ("onnxruntime ·
    8-bit"), and the longer story (what was asked for, why 8-bit was refused)."""
    reported = Signal(str)
    """A status-bar message: a change waiting for a job, 8-bit refused, a failure."""

    def __init__(self, window: QWidget, settings: Settings) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.jobs = JobController(window)
        self.prepared: RuntimePrepared | None = None
        """The latest preparation's outcome; None before the first one ended."""
        self._started = False
        """Whether the engine is loaded (`start`): before, a change is only saved."""
        self._waiting: str | None = None
        """A precision chosen while a job ran, applied once none runs."""
        self._poll = QTimer(self)
        self._poll.setInterval(WAIT_POLL_MS)
        self._poll.timeout.connect(self._apply_waiting)
        self._preparing = Lifecycle(succeeded=self._prepared, failed=self._failed)

    @property
    def label(self) -> str | None:
        """What runs the frozen network as the engine says it ("onnxruntime int8"), once
        prepared."""
        return None if self.prepared is None else self.prepared.features

    @property
    def words(self) -> str:
        """What runs it in the window's words, or what is happening before that."""
        if self.jobs.busy or self._waiting is not None:
            return "preparing…"
        return label_words(self.label) or "not prepared yet"

    def start(self) -> None:
        """The engine is loaded: apply the saved precision and prepare its runtime."""
        self._started = True
        self._run(self.settings.frozen_precision)

    def choose(self, precision: str) -> None:
        """The user chose `precision`: save it, then apply it and prepare its runtime in the
        background, now or once no job of the window runs."""
        changed = precision != self.settings.frozen_precision
        self.settings.frozen_precision = precision
        self.settings.save()
        if not self._started or not (changed or self._waiting is not None):
            return
        self._waiting = precision
        self._apply_waiting()
        if self._waiting is not None:
            self.reported.emit(f"Precision {CHOICE_NAMES[precision]} is used once the running "
                               "job has ended.")
            self._poll.start()

    @property
    def waiting(self) -> bool:
        """A chosen precision waits for a job to end."""
        return self._waiting is not None

    @Slot()
    def _apply_waiting(self) -> None:
        if self._waiting is None or self.jobs.busy or any(
                runner.busy for runner in self.window.findChildren(JobRunner)):
            return
        precision, self._waiting = self._waiting, None
        self._poll.stop()
        self._run(precision)

    def _run(self, precision: str) -> None:
        self.described.emit("preparing…", f"Preparing the network in {CHOICE_NAMES[precision]}"
                                          " precision")
        self.jobs.start(FastInferenceJob(precision), self._preparing)

    @Slot(object)
    def _prepared(self, prepared: RuntimePrepared) -> None:
        self.prepared = prepared
        words = label_words(prepared.features) or prepared.features
        asked = CHOICE_NAMES.get(prepared.wanted, prepared.wanted)
        if prepared.refused is not None:
            self.described.emit(f"{words} (8-bit unavailable)",
                                f"8-bit was chosen but cannot be used: {prepared.refused}.")
            self.reported.emit(f"8-bit could not be used on this computer "
                               f"({prepared.refused}), so the network runs in float.")
        elif prepared.automatic_float is not None:
            self.described.emit(words, f"Frozen network precision: {asked}, which chose "
                                       f"float here: {prepared.automatic_float} "
                                       "(File → Preferences…)")
        else:
            self.described.emit(words, f"Frozen network precision: {asked} "
                                       "(File → Preferences…)")

    @Slot(str, str)
    def _failed(self, message: str, _details: str) -> None:
        self.described.emit("not prepared", message)
        self.reported.emit(f"The fast runtime could not be prepared: {message}")
