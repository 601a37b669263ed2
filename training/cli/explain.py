"""`cheetahlion-cli explain`: where the model looked, as Grad-CAM pictures.

    cheetahlion-cli explain MODEL IMAGE... -o OUT [--class NAME] [--opacity 0.5] [--json]

Each picture is the crop the model saw with the heatmap blended over it. OUT is a `.png`
file for one image, otherwise a folder (created if needed) that receives
`<image name>-<class>.png` per image. Nothing is overwritten: a name already taken gets a
free one (`cat-lion (2).png`). An image that cannot be read is reported and the others go
on; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from training.cli.support import add_output_options, images_in, print_json, report_skipped
from training.core.errors import CheetahLionError

PNG = ".png"


def register(commands: Any) -> None:
    from training.records.backbones import IMAGENET_MODEL

    explain = commands.add_parser(
        "explain", help="show where the model looked (Grad-CAM heatmaps)",
        description="Write each image's crop as the model saw it, with a heatmap of the "
                    "regions that made the model choose the class (Grad-CAM).")
    explain.add_argument("model", help=f"a model file, or '{IMAGENET_MODEL}' for the "
                                       "built-in ImageNet classifier")
    explain.add_argument("images", type=Path, nargs="+", help="image files or folders")
    explain.add_argument("-o", "--output", type=Path, required=True,
                         help="a .png file for one image, otherwise a folder")
    explain.add_argument("--class", dest="class_name", metavar="NAME",
                         help="the class to explain (default: the predicted one)")
    explain.add_argument("--opacity", type=float, default=0.5,
                         help="how strongly the heatmap covers the photo, 0 to 1 (default 0.5)")
    add_output_options(explain)
    explain.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from training.insight.explain import explainer_for, overlay, write_png
    from training.predict.sorting import safe_folder_name

    if not 0.0 <= args.opacity <= 1.0:
        raise CheetahLionError(f"--opacity must be between 0 and 1, not {args.opacity}.")
    listing = images_in(args.images)
    report_skipped(listing)
    files = listing.images
    single_file = len(files) == 1 and args.output.suffix.lower() == PNG \
        and not args.output.is_dir()
    if not single_file and args.output.suffix.lower() == PNG and not args.output.is_dir():
        raise CheetahLionError(
            f"{args.output}: {len(files)} images need a folder for their pictures, not one "
            "PNG file. Give a folder with -o."
        )
    explainer = explainer_for(args.model)
    target = None if args.class_name is None else explainer.class_index(args.class_name)
    rows: list[dict[str, Any]] = []
    for path in files:
        try:
            explanation = explainer.explain(path, target)
        except CheetahLionError as error:
            rows.append({"path": str(path), "error": str(error)})
            continue
        picture = overlay(explanation.image, explanation.heatmap, args.opacity)
        wanted = args.output if single_file else \
            args.output / f"{path.stem}-{safe_folder_name(explanation.class_name)}{PNG}"
        try:
            written = write_png(picture, wanted)
        except OSError as error:
            raise CheetahLionError(
                f"{wanted}: the picture cannot be written ({error.strerror or error}). Give "
                "-o a file or folder you can write to."
            ) from None
        rows.append({
            "path": str(path), "output": str(written), "class": explanation.class_name,
            "probability": explanation.probability, "predicted": explanation.predicted,
            "predicted_probability": max(explanation.probabilities), "error": None,
        })
    _report(args, rows)
    return 1 if any(row["error"] for row in rows) else 0


def _report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    if args.json:
        print_json(rows)
        return
    for row in rows:
        if row["error"]:
            print(f"{row['path']}\tERROR\t{row['error']}")
            continue
        note = "" if row["class"] == row["predicted"] else \
            f" (predicted {row['predicted']} {row['predicted_probability']:.3f})"
        print(f"{row['path']}\t{row['class']}\t{row['probability']:.3f}{note}\t→ {row['output']}")
    failures = sum(1 for row in rows if row["error"])
    print(f"{len(rows) - failures} explained, {failures} could not be read", file=sys.stderr)
