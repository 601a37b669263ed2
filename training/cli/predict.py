"""`cheetahlion-cli` commands that use a trained model.

    cheetahlion-cli evaluate MODEL DATA          accuracy, confusion matrix, worst mistakes,
                                                 calibration (ECE, reliability bins)
    cheetahlion-cli predict MODEL PATH... [--csv FILE]   ("none of these" for strangers,
                                                 "unsure": below a class's threshold, else
                                                 over a stated chance of being wrong)
    cheetahlion-cli export MODEL --format onnx|torchscript|pt2 -o FILE
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.cli.support import (
    EXIT_USER_ERROR,
    ProgressBar,
    add_feature_precision_option,
    add_output_options,
    images_in,
    print_frozen_run,
    print_json,
    usable_dataset,
)
from training.cli.thresholds import operating_points_of, print_operating_points
from training.records.evaluation import small_class_note

SKIPPED = "skipped"
"""How a file that is not an image is marked in `predict`'s results (text, JSON and CSV)."""


def register(commands: Any) -> None:
    from training.records.backbones import IMAGENET_MODEL

    evaluate = commands.add_parser("evaluate", help="score a model on a dataset's split")
    evaluate.add_argument("model", type=Path)
    evaluate.add_argument("data", type=Path)
    evaluate.add_argument("--part", choices=("val", "test", "train"), default="val")
    evaluate.add_argument("--mistakes", type=int, default=10, help="worst mistakes to list")
    _add_unfamiliar_option(evaluate)
    add_output_options(evaluate)
    add_feature_precision_option(evaluate, with_model=True)
    evaluate.set_defaults(handler=_evaluate)

    predict = commands.add_parser("predict", help="classify images or folders")
    predict.add_argument("model", help=f"a model file, or '{IMAGENET_MODEL}' for the "
                                       "built-in ImageNet classifier")
    predict.add_argument("paths", type=Path, nargs="+", help="image files or folders")
    predict.add_argument("--csv", type=Path, help="also write the results to this CSV file")
    predict.add_argument("--sort-into", type=Path, metavar="FOLDER",
                         help="copy each image into FOLDER/<label>/, or FOLDER/none of these/ "
                              "when flagged as unlike the training data (never overwrites); "
                              "a multi-label model copies it into every label's folder")
    predict.add_argument("--move", action="store_true",
                         help="with --sort-into: move the files instead of copying them")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--unsure-chance", type=float, default=None, metavar="PERCENT",
                         help="for a model without per-class thresholds: mark a prediction "
                              "unsure when its chance of being wrong (100 %% minus its "
                              "confidence, calibrated when the model was trained by this "
                              "version) is over PERCENT %% (default 30). A multi-label "
                              "model: a photo is unsure when some label's chance of being on "
                              "the wrong side of its threshold (100 %% minus its probability "
                              "when given, its probability when not) is over PERCENT %%; "
                              "left out, the app's rule (a label near its threshold)")
    _add_unfamiliar_option(predict)
    add_output_options(predict)
    add_feature_precision_option(predict, with_model=True)
    predict.set_defaults(handler=_predict)

    _register_export(commands)


def _register_export(commands: Any) -> None:
    export = commands.add_parser(
        "export", help="export a model to ONNX, TorchScript or torch.export (.pt2)",
        description="Write the model in another format, with a JSON sidecar (class names, "
                    "preprocessing) beside it. The export is checked against the app's own "
                    "predictions and is not written if they differ.")
    export.add_argument("model", type=Path, help="a CheetahLion model file (.safetensors)")
    export.add_argument("--format", dest="export_format", required=True,
                        choices=("onnx", "torchscript", "pt2"))
    export.add_argument("-o", "--output", type=Path, required=True,
                        help="file to write (the format's suffix is added when missing)")
    export.add_argument("--check-images", type=Path, nargs="+", default=[], metavar="PATH",
                        help="images or folders to include in the parity check "
                             "(synthetic images are always checked)")
    add_output_options(export)
    export.set_defaults(handler=_export)


def _add_unfamiliar_option(command: argparse.ArgumentParser) -> None:
    from training.records.novelty_calibration import DEFAULT_PERCENTILE

    command.add_argument(
        "--unfamiliar-percentile", type=float, default=DEFAULT_PERCENTILE, metavar="P",
        help="call an image 'none of these' when it is stranger than P %% of the model's "
             f"validation images (0-100, default {DEFAULT_PERCENTILE:g}); needs a model "
             "trained by this version")


def _multilabel_metadata(model: str | Path) -> dict[str, Any] | None:
    """A multi-label model file's metadata (its figures are its own: `cli.multilabel`)."""
    from training.fitting.modelfile import read_metadata
    from training.predict.multilabel import is_multilabel
    from training.records.backbones import IMAGENET_MODEL

    if str(model) == IMAGENET_MODEL:
        return None
    metadata = read_metadata(model)
    return metadata if is_multilabel(metadata) else None


def _evaluate(args: argparse.Namespace) -> int:
    from training.cli import multilabel
    from training.fitting.modelfile import load_model
    from training.predict.evaluation import evaluate, model_split

    metadata = _multilabel_metadata(args.model)
    if metadata is not None:
        return multilabel.evaluate(args, metadata)
    model = load_model(args.model)
    dataset = usable_dataset(args)
    if model.metadata.get("dataset_fingerprint") not in (None, dataset.fingerprint):
        print("note: the dataset changed since this model was trained; the split is drawn "
              "again from the model's seed", file=sys.stderr)
    split = model_split(model, dataset)
    with ProgressBar(args, f"evaluate {args.part}", len(split.part(args.part))) as update:
        report = evaluate(model, dataset, args.part, split, progress=update,
                          unfamiliar_percentile=args.unfamiliar_percentile,
                          feature_precision=args.feature_precision)
    points = operating_points_of(report)
    if args.json:
        print_json({**asdict(report), "mistakes": report.mistakes[:args.mistakes],
                    "frozen": report.frozen.to_dict() if report.frozen else None,
                    "at_thresholds": [{**asdict(p), "precision": p.precision,
                                       "recall": p.recall} for p in points]})
        return 0
    _print_evaluation(report, args.mistakes)
    print_operating_points(report, points)
    _print_calibration(report)
    if report.frozen is not None:
        print_frozen_run(report.frozen, sys.stdout)
    return 0


def _print_evaluation(report: Any, mistakes: int) -> None:
    """Accuracy, confusion matrix, per-class scores, the worst `mistakes` and the novelty."""
    print(f"{report.part}: accuracy {report.accuracy:.3f}, balanced accuracy "
          f"{report.balanced_accuracy:.3f} on {report.images} images (loss {report.loss:.3f})")
    width = max(len(name) for name in report.classes) + 2
    print("confusion (rows: true, columns: predicted)")
    print(" " * width + "".join(f"{name[:10]:>11}" for name in report.classes))
    for name, row in zip(report.classes, report.confusion, strict=True):
        print(f"{name:<{width}}" + "".join(f"{count:>11}" for count in row))
    print(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'images':>8}")
    for scores in report.per_class:
        print(f"{scores.name:<{width}}{scores.precision:>10.3f}{scores.recall:>10.3f}"
              f"{scores.f1:>10.3f}{scores.support:>8}")
    note = small_class_note(report.support, "validation" if report.part == "val" else report.part)
    if note:
        print(note)
    if report.mistakes:
        print("worst mistakes:")
        for mistake in report.mistakes[:mistakes]:
            print(f"  {mistake.path}: {mistake.true_label} predicted as "
                  f"{mistake.predicted_label} ({mistake.confidence:.2f})")
    if report.unfamiliar_fraction is None:
        print("none of these: this model has no novelty data (train it again to get it)")
    else:
        flagged = sum(o.unfamiliar for o in report.outcomes)
        print(f"none of these: {flagged} of {report.images} {report.part} images "
              f"({report.unfamiliar_fraction:.1%}) are stranger than "
              f"{report.unfamiliar_percentile:g} % of the validation images")


def _print_calibration(report: Any) -> None:
    """The ECE on the evaluated images, their reliability bins, and what the model file
    says of its calibration."""
    measured = report.reliability
    print(f"calibration: ECE {measured.ece:.3f} on these {measured.images} {report.part} "
          f"images ({len(measured.bins)} bins of confidence; {measured.chance_words('images')})")
    for row in measured.bins:
        if row.count:
            print(f"  said {row.lower:.0%}-{row.upper:.0%}: {row.count:>4} images, mean "
                  f"confidence {row.confidence:.3f}, right {row.accuracy:.3f}")
    stored = report.calibration
    print("model file: " + (stored.describe() if stored else
                            "trained before calibration (temperature 1, confidences as trained)"))


def _predict(args: argparse.Namespace) -> int:
    from training.cli import multilabel
    from training.core.errors import ConfigError
    from training.predict.inference import Predictor
    from training.predict.results_csv import (
        MAX_CLASS_COLUMNS,
        check_results_target,
        write_results_csv,
    )
    from training.predict.sorting import sort_into_folders, sorting_label
    from training.records.backbones import IMAGENET_MODEL
    from training.records.predictions import Prediction

    if args.unsure_chance is not None and not 0 <= args.unsure_chance <= 100:  # NaN too
        raise ConfigError(f"--unsure-chance is a percentage from 0 to 100, not "
                          f"{args.unsure_chance:g}.")
    if _multilabel_metadata(args.model) is not None:
        return multilabel.predict(args)
    if args.unsure_chance is None:
        args.unsure_chance = 30.0
    if args.csv:
        check_results_target(args.csv)
    listing = images_in(args.paths)
    files = listing.images
    precision = args.feature_precision  # None: the precision the model was trained on
    predictor = Predictor.imagenet(feature_precision=precision) if args.model == IMAGENET_MODEL \
        else Predictor.from_file(args.model, feature_precision=precision)
    predictor.unfamiliar_percentile = args.unfamiliar_percentile
    classes = predictor.classes
    columns = list(classes) if len(classes) <= MAX_CLASS_COLUMNS else []
    results = []
    with ProgressBar(args, "predict", len(files)) as update:
        for done, prediction in enumerate(predictor.predict(files, args.batch_size), start=1):
            results.append(prediction)
            update(done)
    skipped = [Prediction(str(item.path), None, 0.0, (), error=f"{SKIPPED}: {item.reason}")
               for item in listing.skipped]
    results += skipped
    if args.csv:
        write_results_csv(args.csv, results, classes)
    if args.sort_into:
        summary = sort_into_folders(((p.path, sorting_label(p.label, p.unfamiliar,
                                                            p.below_threshold))
                                     for p in results if p.label),
                                    args.sort_into, move=args.move, classes=classes)
        print(f"{args.sort_into}: {summary.describe('moved' if args.move else 'copied')}",
              file=sys.stderr)
    _print_predictions(args, predictor, results, skipped, columns)
    return EXIT_USER_ERROR if args.sort_into and summary.failed else 0


def _print_predictions(args: argparse.Namespace, predictor: Any, results: list[Any],
                       skipped: list[Any], columns: list[str]) -> None:
    """The predictions as JSON, or a line each and a summary (on stderr), with which are
    unsure: below their class's threshold where the model has thresholds, else over
    `--unsure-chance` % chance of being wrong ("none of these" apart)."""
    from training.models.frozen import features_used
    from training.records.calibration import is_unsure

    features = features_used()
    frozen = predictor.frozen_run()
    failures = sum(1 for p in results if p.error) - len(skipped)
    skipped_ids = {id(p) for p in skipped}
    by_threshold = any(t is not None for t in predictor.thresholds)
    chance = args.unsure_chance / 100
    unsure = {id(p) for p in results if p.label and not p.unfamiliar and (
        p.below_threshold if by_threshold else is_unsure(p.confidence, chance))}
    if args.json:
        print_json([{
            "path": p.path, "label": p.label, "confidence": p.confidence, "error": p.error,
            "skipped": id(p) in skipped_ids, "novelty": p.novelty, "none_of_these": p.unfamiliar,
            "unsure": id(p) in unsure, "threshold": p.threshold, "features": features,
            "frozen": frozen.to_dict(),
            "probabilities": dict(zip(columns, p.probabilities, strict=False)) if columns
            else None,
        } for p in results])
        return
    for p in results:
        wrong = 1 - p.confidence  # one decimal below 10 %: "2.1 %", not a "2 %" over 2 %
        chance_unsure = id(p) in unsure and not by_threshold
        print(_prediction_line(p) + (f"\tunsure: {wrong:.{0 if wrong >= 0.1 else 1}%} chance "
                                     "wrong" if chance_unsure else ""))
    unfamiliar = sum(p.unfamiliar for p in results)
    print(f"{len(results) - failures - len(skipped)} classified, {failures} could not be "
          f"read, {len(skipped)} skipped (not images)"
          + (f", {unfamiliar} none of these" if predictor.calibration else "")
          + f", {len(unsure)} unsure ({_unsure_rule(predictor, chance)})"
          + (f"; results written to {args.csv}" if args.csv else ""), file=sys.stderr)
    print_frozen_run(frozen)


def _unsure_rule(predictor: Any, chance: float) -> str:
    """What "unsure" means for this model: below its class's threshold where it has them;
    else a stated chance of being wrong when its confidences are calibrated, else only a
    confidence cut-off."""
    from training.records.calibration import HEADER_KEY

    if any(t is not None for t in predictor.thresholds):
        return "below their class's threshold"
    if predictor.model.metadata.get(HEADER_KEY):
        return f"over {chance:.0%} chance of being wrong"
    return f"confidence below {1 - chance:.0%}; this model is not calibrated"


def _prediction_line(p: Any) -> str:
    """path, label, confidence, tab-separated; 'none of these' names the closest class, and
    'unsure' the class whose threshold the photo is below."""
    if p.error is not None and p.error.startswith(f"{SKIPPED}: "):
        return f"{p.path}\tSKIPPED\t{p.error.removeprefix(f'{SKIPPED}: ')}"
    if p.error is not None:
        return f"{p.path}\tERROR\t{p.error}"
    if p.unfamiliar:
        return f"{p.path}\tnone of these\t{p.confidence:.3f}\tclosest: {p.label}"
    if p.below_threshold:
        return (f"{p.path}\tunsure\t{p.confidence:.3f}\tbelow {p.label}'s threshold "
                f"{p.threshold:g}")
    return f"{p.path}\t{p.label}\t{p.confidence:.3f}"


def _export(args: argparse.Namespace) -> int:
    from training.predict.export import MAX_SAMPLE_IMAGES, export_model

    found = images_in(args.check_images).images if args.check_images else []
    samples = found[:MAX_SAMPLE_IMAGES]
    result = export_model(args.model, args.output, args.export_format, samples)
    if args.json:
        print_json(result)
    else:
        print(f"{result.path}: {result.format} export written, with {result.sidecar.name} "
              f"beside it; it matches the app to {result.max_abs_difference:.1e} on "
              f"{result.inputs_checked} images ({result.seconds:.1f} s)")
    return 0
