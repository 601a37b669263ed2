"""`cheetahlion-cli next-to-label`: the photos worth labelling first, and why.

    cheetahlion-cli next-to-label MODEL PATH... --dataset DATA [-n 20] [--json]

The model classifies the photos; they are then ranked by what a label would teach it
(`training.insight.labelling_queue`): the photos it is least sure of first, near-copies
of the dataset's photos (and of those ranked before them) held back. A multi-label
model's photos are ranked by how close each label is to its threshold, and DATA is read
as a multi-label dataset (its labels.csv, else its label folders). Photos inside DATA are
left out: they are labelled already. Prints rank, path and reason, tab-separated, best
first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from training.cli.support import (
    ProgressBar,
    add_output_options,
    images_in,
    print_json,
    report_skipped,
    usable_dataset,
)


def register(commands: Any) -> None:
    from training.records.backbones import IMAGENET_MODEL

    command = commands.add_parser(
        "next-to-label", help="the photos worth labelling first, and why",
        description="Rank photos by what their label would teach the model: the ones it is "
                    "least sure of first, near-copies of the dataset's photos held back.")
    command.add_argument("model", help=f"a model file, or '{IMAGENET_MODEL}' for the "
                                       "built-in ImageNet classifier")
    command.add_argument("paths", type=Path, nargs="+", help="image files or folders")
    command.add_argument("--dataset", dest="data", type=Path, required=True,
                         help="the dataset the labels go into (its photos count as "
                              "labelled; for a multi-label model its labels.csv, else its "
                              "label folders)")
    command.add_argument("-n", "--count", type=int, default=20,
                         help="how many photos to list (default 20; 0: all)")
    add_output_options(command)
    command.set_defaults(handler=_next_to_label)


def _next_to_label(args: argparse.Namespace) -> int:
    from training.cli.multilabel import scan as scan_multilabel
    from training.insight.labelling_queue import backbone_of, order_for_review
    from training.records.backbones import IMAGENET_MODEL

    model = None if args.model == IMAGENET_MODEL else args.model
    multilabel = model is not None and _is_multilabel(model)
    dataset = scan_multilabel(args) if multilabel else usable_dataset(args)
    listing = images_in(args.paths)
    root = dataset.root.resolve()
    files = [path for path in listing.images if not path.resolve().is_relative_to(root)]
    predictor, predictions = _classified(args, model, multilabel, files)
    readable = [p for p in predictions if p.error is None]
    with ProgressBar(args, "order", len(readable) + len(dataset.paths)) as update:
        picks = order_for_review([p.path for p in readable],
                                 [p.probabilities for p in readable],
                                 [getattr(p, "unfamiliar", False) for p in readable],
                                 dataset.paths, _names(predictor), backbone_of(model),
                                 progress=update, limit=args.count or None,
                                 thresholds=predictor.thresholds if multilabel else None)
    rows = [{"rank": rank, "path": readable[pick.index].path, "reason": pick.reason,
             **_model_says(readable[pick.index], predictor, multilabel),
             "uncertainty": pick.uncertainty, "distance": pick.distance}
            for rank, pick in enumerate(picks, start=1)]
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['rank']}\t{row['path']}\t{row['reason']}")
    report_skipped(listing)
    for prediction in predictions:
        if prediction.error is not None:
            print(f"could not read: {prediction.error}", file=sys.stderr)
    print(f"{len(rows)} of {len(readable)} photos listed, best to label first"
          + (f"; {len(listing.images) - len(files)} inside the dataset left out"
             if len(files) < len(listing.images) else ""), file=sys.stderr)
    return 0


def _is_multilabel(model: str | Path) -> bool:
    from training.fitting.modelfile import read_metadata
    from training.predict.multilabel import is_multilabel

    return is_multilabel(read_metadata(model))


def _classified(args: argparse.Namespace, model: str | None, multilabel: bool,
                files: list[Path]) -> tuple[Any, list[Any]]:
    """(the predictor, its prediction for each of `files`)."""
    from training.predict.inference import Predictor
    from training.predict.multilabel import MultiLabelPredictor

    predictor = (Predictor.imagenet() if model is None else MultiLabelPredictor.from_file(model)
                 if multilabel else Predictor.from_file(model))
    with ProgressBar(args, "classify", len(files)) as update:
        predictions = []
        for done, prediction in enumerate(predictor.predict(files), start=1):
            predictions.append(prediction)
            update(done)
    return predictor, predictions


def _names(predictor: Any) -> tuple[str, ...]:
    return tuple(getattr(predictor, "labels", None) or predictor.classes)


def _model_says(prediction: Any, predictor: Any, multilabel: bool) -> dict[str, Any]:
    """What the model gave the photo: its class and confidence, or its labels and each
    label's probability."""
    if not multilabel:
        return {"label": prediction.label, "confidence": prediction.confidence}
    return {"labels": list(prediction.labels),
            "probabilities": dict(zip(predictor.labels, prediction.probabilities,
                                      strict=True)),
            "thresholds": dict(zip(predictor.labels, predictor.thresholds, strict=True))}
