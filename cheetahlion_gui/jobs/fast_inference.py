"""After start-up: make the fast runtime ready for the default network, in the background."""

from __future__ import annotations

from cheetahlion_gui.jobs.runner import Job


class FastInferenceJob(Job):
    """Result: what will run the frozen network ("onnxruntime" or "pytorch").

    On the first start on a machine this exports the default network's ONNX graph (about
    ten seconds on two cores) and checks it against PyTorch; later starts find it at once.
    Done here, the finder, quick training and classification of even a handful of photos
    get the faster runtime from their first batch.
    """

    def work(self) -> str:
        from training import prepare_frozen_runtime

        return prepare_frozen_runtime()
