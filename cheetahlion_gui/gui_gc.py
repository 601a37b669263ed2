"""Python's garbage collector, run only on the GUI thread.

Automatic collection runs in whichever thread happens to allocate, often a worker busy with
torch. Collecting a cycle that holds Qt objects there destroys them off the GUI thread: a
QObject destructor in the worker takes Qt's signal lock and waits for the GIL, while the
GUI thread, holding the GIL, destroys another QObject and waits for that lock. The test
suite hung exactly so (pyqtgraph's menus of a closed window, collected from a training
thread). pyqtgraph's own `GarbageCollector` answers the same problem the same way: turn
automatic collection off and collect from a timer on the GUI thread, generation by
generation with Python's own thresholds, so each pass stays as cheap as an automatic one.
The main window owns one while it is open; closing it collects once more and hands
collection back to Python.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer, Slot

INTERVAL_MS = 250


class GuiThreadGarbageCollector(QObject):
    """Disables automatic collection and collects on a GUI-thread timer until `stop()`."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(INTERVAL_MS)
        gc.disable()

    @Slot()
    def collect(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds."""
        counts = gc.get_count()
        generation = -1
        for level in range(3):
            if counts[level] <= self.thresholds[level]:
                break
            generation = level
        if generation >= 0:
            gc.collect(generation)

    def stop(self) -> None:
        """Collect what is left here, then let Python collect automatically again.

        Call it once no worker thread runs any more."""
        self.timer.stop()
        gc.collect()
        gc.enable()
