"""`cheetahlion-cli next-to-label`: the photos worth labelling first, and why.

    cheetahlion-cli next-to-label MODEL PATH... --dataset DATA [-n 20] [--json]

The model classifies the photos; they are then ranked by what a label would teach it
(`training.insight.labelling_queue`): the photos it is least sure of and least like the
dataset's photos (and those ranked before them) first. Photos inside DATA are left out:
they are labelled already. Prints rank, path and reason, tab-separated, best first.
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
                    "least sure of and least like the dataset's photos first.")
    command.add_argument("model", help=f"a model file, or '{IMAGENET_MODEL}' for the "
                                       "built-in ImageNet classifier")
    command.add_argument("paths", type=Path, nargs="+", help="image files or folders")
    command.add_argument("--dataset", dest="data", type=Path, required=True,
                         help="the dataset the labels go into (its photos count as labelled)")
    command.add_argument("-n", "--count", type=int, default=20,
                         help="how many photos to list (default 20; 0: all)")
    add_output_options(command)
    command.set_defaults(handler=_next_to_label)


def _next_to_label(args: argparse.Namespace) -> int:
    from training.insight.labelling_queue import backbone_of, order_for_review
    from training.predict.inference import Predictor
    from training.records.backbones import IMAGENET_MODEL

    dataset = usable_dataset(args)
    listing = images_in(args.paths)
    root = dataset.root.resolve()
    files = [path for path in listing.images if not path.resolve().is_relative_to(root)]
    model = None if args.model == IMAGENET_MODEL else args.model
    predictor = Predictor.imagenet() if model is None else Predictor.from_file(model)
    with ProgressBar(args, "classify", len(files)) as update:
        predictions = []
        for done, prediction in enumerate(predictor.predict(files), start=1):
            predictions.append(prediction)
            update(done)
    readable = [p for p in predictions if p.error is None]
    with ProgressBar(args, "order", len(readable) + len(dataset.paths)) as update:
        picks = order_for_review([p.path for p in readable],
                                 [p.probabilities for p in readable],
                                 [p.unfamiliar for p in readable], dataset.paths,
                                 predictor.classes, backbone_of(model), progress=update,
                                 limit=args.count or None)
    rows = [{"rank": rank, "path": readable[pick.index].path, "reason": pick.reason,
             "label": readable[pick.index].label,
             "confidence": readable[pick.index].confidence,
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
