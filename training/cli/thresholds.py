"""`cheetahlion-cli thresholds`: per-class thresholds of a single-label model, headlessly.

    cheetahlion-cli thresholds MODEL                       the thresholds the file holds
    cheetahlion-cli thresholds MODEL --set cheetah=0.8     a photo whose top class is cheetah
                                                           below 0.8 is "unsure"
    cheetahlion-cli thresholds MODEL --clear               back to none (the top class wins)

Only the model file's header changes (`training.fitting.model_thresholds`); `predict` then
marks the photos below their class's threshold unsure, and `evaluate` prints each class's
precision, recall and unsure photos at them (`print_operating_points`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.cli.support import add_output_options, print_json

if TYPE_CHECKING:
    from training.records.evaluation import EvaluationReport
    from training.records.operating_points import OperatingPoint


def register(commands: Any) -> None:
    command = commands.add_parser(
        "thresholds", help="show or set a model's per-class thresholds",
        description="A photo whose most probable class is below that class's threshold is "
                    "'unsure' instead of being given the class. 'none of these' is decided "
                    "first. Choose thresholds from `evaluate`'s figures, or on the app's "
                    "Evaluate step.")
    command.add_argument("model", type=Path, help="a single-label model file (.safetensors)")
    command.add_argument("--set", dest="settings", action="append", default=[],
                         metavar="CLASS=VALUE",
                         help="a class's threshold, 0 to 1 ('none' removes it); repeat it "
                              "for several classes")
    command.add_argument("--clear", action="store_true",
                         help="remove every threshold first (alone: back to none)")
    add_output_options(command)
    command.set_defaults(handler=_thresholds)


def _thresholds(args: argparse.Namespace) -> int:
    from training.fitting.model_thresholds import model_thresholds, save_thresholds
    from training.records.operating_points import no_thresholds, parse_threshold_settings

    classes, thresholds, digest = model_thresholds(args.model)
    changed = bool(args.settings) or args.clear
    if changed:
        start = no_thresholds(classes) if args.clear else thresholds
        thresholds = parse_threshold_settings(args.settings, classes, start)
        thresholds = save_thresholds(args.model, thresholds, digest).thresholds
    chosen = {name: t for name, t in zip(classes, thresholds, strict=True) if t is not None}
    if args.json:
        print_json({"model": str(args.model), "thresholds": chosen, "saved": changed})
        return 0
    verb = "now has" if changed else "has"
    if not chosen:
        print(f"{args.model} {verb} no per-class thresholds: each photo gets its most "
              "probable class (unless it is 'none of these').")
        return 0
    print(f"{args.model} {verb} per-class thresholds (below one, a photo is 'unsure'):")
    for name, value in chosen.items():
        print(f"  {name}\t{value:g}")
    return 0


def operating_points_of(report: EvaluationReport) -> tuple[OperatingPoint, ...]:
    """Each class's figures at the model's thresholds; none when it has no thresholds."""
    from training.records.operating_points import ValidationOutcomes

    if not report.thresholds:
        return ()
    return ValidationOutcomes.of_report(report).points(report.thresholds)


def print_operating_points(report: EvaluationReport, points: Sequence[OperatingPoint]) -> None:
    """The table `evaluate` prints under the scores when the model has thresholds."""
    if not points:
        return
    width = max(len(point.name) for point in points) + 2
    print("at the model's thresholds ('none of these' first; below a threshold: unsure):")
    print(f"{'class':<{width}}{'threshold':>10}{'precision':>10}{'recall':>10}{'unsure':>8}")
    for point in points:
        threshold = "none" if point.threshold is None else f"{point.threshold:g}"
        precision = "-" if point.precision is None else f"{point.precision:.3f}"
        recall = "-" if point.recall is None else f"{point.recall:.3f}"
        print(f"{point.name:<{width}}{threshold:>10}{precision:>10}{recall:>10}"
              f"{point.unsure:>8}")
    unsure = sum(point.unsure for point in points)
    print(f"{unsure} of {report.images} {report.part} images unsure at these thresholds")
