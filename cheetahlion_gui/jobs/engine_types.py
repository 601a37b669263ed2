"""The engine's records that live in torch-bearing modules, named for the GUI's annotations.

Only `cheetahlion_gui.jobs` may import the engine's torch-bearing modules: torch must never
load on the GUI thread. Several records the pages show are defined in such modules (a
`RunRecord` beside the code that writes the run history, a `Prediction` beside the
predictor). The GUI's modules import their names from here under `TYPE_CHECKING`, so a type
checker sees them and nothing is imported when the app runs. Records of torch-free modules
(Dataset, Journal, TrainConfig, the events…) are imported from the engine directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.fitting.result import FitResult as FitResult
    from training.fitting.runs import RunRecord as RunRecord
    from training.insight.explain import Explanation as Explanation
    from training.insight.map_record import DatasetMap as DatasetMap
    from training.insight.suspects import Suspect as Suspect
    from training.insight.suspects import SuspectReport as SuspectReport
    from training.predict.evaluation import ClassScores as ClassScores
    from training.predict.evaluation import EvaluationReport as EvaluationReport
    from training.predict.evaluation import ImageOutcome as ImageOutcome
    from training.predict.export import ExportResult as ExportResult
    from training.predict.inference import Prediction as Prediction
    from training.predict.inference import Predictor as Predictor
