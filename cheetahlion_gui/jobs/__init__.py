"""Every long job of the GUI, and the machinery that runs them off the GUI thread.

This package is the GUI's only door to the engine's torch-bearing modules (and to the lazy
`training` API, which loads them): its jobs import them inside `work()`, in the worker
thread, so the window paints and stays responsive before torch has ever been imported.
Everything else in `cheetahlion_gui` talks to the engine through these jobs' results.
`runner` holds the threading (Job, JobRunner); the other modules, one per kind of work,
hold the jobs and the plain records they hand back.
"""

from cheetahlion_gui.jobs.runner import Job, JobRunner

__all__ = ["Job", "JobRunner"]
