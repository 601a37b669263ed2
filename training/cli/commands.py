"""`cheetahlion-cli`: everything the app does, from a terminal.

    cheetahlion-cli scan DATA                    check a dataset folder
    cheetahlion-cli baseline DATA                zero-shot ImageNet accuracy, no training
    cheetahlion-cli train DATA -o MODEL          train (quick by default; --mode finetune)
    cheetahlion-cli train DATA -o MODEL --resume RUN   carry a stopped fine-tune on
    cheetahlion-cli evaluate MODEL DATA          accuracy, confusion matrix, worst mistakes
    cheetahlion-cli predict MODEL PATH... [--csv FILE]   ("none of these" for strangers)
    cheetahlion-cli export MODEL --format onnx|torchscript|pt2 -o FILE
    cheetahlion-cli runs DATA                    the history of runs on a dataset
    cheetahlion-cli backbones                    the networks you can train

User errors print one line and exit 1; usage errors exit 2; Ctrl+C during training stops at
the next batch and still saves the best model. `--json` prints machine-readable output.

`train` also runs under torchrun (`torchrun --nproc_per_node=N -m training.cli train ...`):
each process says which rank it is on stderr; only rank 0 shows progress and the result.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict
from importlib import import_module
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.cli.support import (
    EXIT_INTERRUPTED,
    PhaseBars,
    ProgressBar,
    add_output_options,
    add_split_options,
    images_in,
    print_json,
    run_cancellable,
    scan_with_progress,
    usable_dataset,
)
from training.core.errors import CheetahLionError

EXIT_USER_ERROR = 1
SKIPPED = "skipped"
"""How a file that is not an image is marked in `predict`'s results (text, JSON and CSV)."""
COMMAND_MODULES: tuple[str, ...] = ("training.cli.cleanup", "training.cli.explain")
"""Modules that each add sub-commands through `register(commands)`, in help order."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CheetahLionError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    from training.models.backbones import BACKBONES, DEFAULT_BACKBONE, IMAGENET_MODEL

    parser = argparse.ArgumentParser(
        prog="cheetahlion-cli",
        description="Fine-tune a pretrained image classifier on your photo folders.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = commands.add_parser("scan", help="check a dataset folder and report problems")
    scan.add_argument("data", type=Path, help="folder with one sub-folder per class")
    add_split_options(scan)
    add_output_options(scan)
    scan.set_defaults(handler=_scan)

    baseline = commands.add_parser("baseline", help="the untouched ImageNet model's accuracy")
    baseline.add_argument("data", type=Path)
    add_split_options(baseline)
    add_output_options(baseline)
    baseline.set_defaults(handler=_baseline)

    train = commands.add_parser("train", help="train a classifier")
    train.add_argument("data", type=Path)
    train.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    train.add_argument("--mode", choices=("quick", "finetune"),
                       help="quick: frozen backbone, seconds (default); finetune: whole network")
    train.add_argument("--recipe", choices=("tutorial",),
                       help="use the beginners' tutorial's fine-tuning recipe")
    train.add_argument("--backbone", choices=sorted(BACKBONES),
                       help=f"the network to train (default {DEFAULT_BACKBONE})")
    train.add_argument("--resume", metavar="RUN",
                       help="carry on a stopped or interrupted fine-tune after its last epoch: "
                            "its run id (see 'runs'), run folder or checkpoint file; it keeps "
                            "its own settings")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, dest="learning_rate")
    train.add_argument("--image-size", type=int)
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--patience", type=int, dest="early_stopping_patience",
                       help="epochs without improvement before stopping (0: never)")
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                       help="fine-tuning on CUDA: half-precision autocast (auto: bf16 where "
                            "supported); CPUs always use fp32")
    add_split_options(train)
    add_output_options(train)
    # None: not given, so --resume can tell the flags a user set from the run's own settings.
    train.set_defaults(handler=_train, seed=None, val_fraction=None, test_fraction=None)

    evaluate = commands.add_parser("evaluate", help="score a model on a dataset's split")
    evaluate.add_argument("model", type=Path)
    evaluate.add_argument("data", type=Path)
    evaluate.add_argument("--part", choices=("val", "test", "train"), default="val")
    evaluate.add_argument("--mistakes", type=int, default=10, help="worst mistakes to list")
    _add_unfamiliar_option(evaluate)
    add_output_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    predict = commands.add_parser("predict", help="classify images or folders")
    predict.add_argument("model", help=f"a model file, or '{IMAGENET_MODEL}' for the "
                                       "built-in ImageNet classifier")
    predict.add_argument("paths", type=Path, nargs="+", help="image files or folders")
    predict.add_argument("--csv", type=Path, help="also write the results to this CSV file")
    predict.add_argument("--sort-into", type=Path, metavar="FOLDER",
                         help="copy each image into FOLDER/<label>/, or FOLDER/none of these/ "
                              "when flagged as unlike the training data (never overwrites)")
    predict.add_argument("--move", action="store_true",
                         help="with --sort-into: move the files instead of copying them")
    predict.add_argument("--batch-size", type=int, default=32)
    _add_unfamiliar_option(predict)
    add_output_options(predict)
    predict.set_defaults(handler=_predict)

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

    runs = commands.add_parser("runs", help="list the training runs on a dataset")
    runs.add_argument("data", type=Path)
    add_output_options(runs)
    runs.set_defaults(handler=_runs)

    backbones = commands.add_parser("backbones", help="list the networks you can train")
    add_output_options(backbones)
    backbones.set_defaults(handler=_backbones)

    for name in COMMAND_MODULES:
        import_module(name).register(commands)
    return parser


def _add_unfamiliar_option(command: argparse.ArgumentParser) -> None:
    from training.models.novelty_calibration import DEFAULT_PERCENTILE

    command.add_argument(
        "--unfamiliar-percentile", type=float, default=DEFAULT_PERCENTILE, metavar="P",
        help="call an image 'none of these' when it is stranger than P %% of the model's "
             f"validation images (0-100, default {DEFAULT_PERCENTILE:g}); needs a model "
             "trained by this version")


_ISSUES_NAMING_FILES_BELOW = frozenset({"phone_photos", "unsupported_files", "loose_files"})
"""Issues whose message counts files without naming them: `scan` lists them underneath."""


# --- commands -----------------------------------------------------------------------------

def _scan(args: argparse.Namespace) -> int:
    from training.data.splitting import split_dataset

    dataset = scan_with_progress(args)
    split = split_dataset(dataset, args.val_fraction, args.test_fraction, args.seed) \
        if dataset.report.can_train else None
    if args.json:
        print_json({
            "root": dataset.root, "classes": dataset.class_counts,
            "images": len(dataset.images), "fingerprint": dataset.fingerprint,
            "has_own_split": dataset.has_own_split, "can_train": dataset.report.can_train,
            "split": split.sizes() if split else None, "issues": dataset.report.issues,
        })
    else:
        print(f"{dataset.root}: {len(dataset.images)} usable images in "
              f"{len(dataset.classes)} classes")
        for name, count in dataset.class_counts.items():
            print(f"  {name:<24} {count:>7}")
        if split:
            sizes = split.sizes()
            print(f"split ({'the folder' if split.source == 'folder' else f'seed {split.seed}'}): "
                  f"train {sizes['train']}, val {sizes['val']}, test {sizes['test']}")
        for issue in dataset.report.issues:
            print(f"{issue.severity}: {issue.message}")
            if issue.kind in _ISSUES_NAMING_FILES_BELOW:
                for path in issue.paths:
                    print(f"    {path}")
        if dataset.report.can_train:
            print("ready to train")
    return 0 if dataset.report.can_train else EXIT_USER_ERROR


def _baseline(args: argparse.Namespace) -> int:
    from training.data.splitting import split_dataset
    from training.predict.baseline import zero_shot_baseline

    dataset = usable_dataset(args)
    split = split_dataset(dataset, args.val_fraction, args.test_fraction, args.seed)
    with ProgressBar(args, "baseline", len(split.val)) as update:
        result = zero_shot_baseline(dataset, split, progress=update)
    if result is None:
        raise CheetahLionError(
            "No zero-shot baseline: not every class folder is named after an ImageNet category "
            f"({', '.join(dataset.classes)}). Train a model instead."
        )
    if args.json:
        print_json(result)
    else:
        for name, categories in result.matches.items():
            print(f"  {name} → ImageNet {', '.join(categories)}")
        print(f"zero-shot accuracy on {result.images} validation images: {result.accuracy:.3f}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from training.core.events import EpochEnded, PhaseProgress, RunStarted, StepEnded
    from training.fitting.checkpoint import find_checkpoint, load_checkpoint
    from training.fitting.config import TrainConfig
    from training.fitting.distributed import from_environment
    from training.fitting.trainer import fit

    me = from_environment()
    if me.distributed:
        print(f"training process rank {me.rank} of {me.world_size}", file=sys.stderr)
    if not me.is_main:  # rank 0 speaks for all of them
        args.quiet, args.json = True, False
    dataset = usable_dataset(args)
    overrides = {
        key: value for key, value in {
            "backbone": args.backbone, "epochs": args.epochs, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "image_size": args.image_size,
            "augment": args.augment, "early_stopping_patience": args.early_stopping_patience,
            "device": args.device, "precision": args.precision, "seed": args.seed,
            "val_fraction": args.val_fraction, "test_fraction": args.test_fraction,
        }.items() if value is not None
    }
    if args.resume:
        if args.recipe:
            raise CheetahLionError("--recipe and --resume do not go together: a resumed run "
                                   "keeps the settings it started with.")
        saved = load_checkpoint(find_checkpoint(args.resume, dataset.root))
        if args.mode:
            overrides["mode"] = args.mode
        # fit refuses any setting that differs from the run's (but the device).
        config = TrainConfig.from_dict({**saved.info.config, **overrides})
        if not (args.quiet or args.json):
            print(f"resuming run {saved.info.run_id} after epoch {saved.state.epoch} "
                  f"of {config.epochs}")
    elif args.recipe == "tutorial":
        config = TrainConfig.tutorial_recipe(**overrides)
    elif args.mode == "finetune":
        config = TrainConfig.finetune(**overrides)
    else:
        config = TrainConfig.quick(**overrides)

    def progress(event: object) -> None:
        if args.quiet or args.json:
            return
        if isinstance(event, RunStarted):
            tqdm.write(f"{event.mode} training of {event.backbone} on {event.device}: "
                       f"{event.train_images} training / {event.val_images} validation images")
            total_steps.append(event.total_steps)
        elif isinstance(event, PhaseProgress):
            bars.update(event)
        elif isinstance(event, StepEnded):
            bar = bars.bar("train", total_steps[0], "step")
            bar.update(event.step - bar.n)
            bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.3f}")
        elif isinstance(event, EpochEnded):
            tqdm.write(f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.3f} "
                       f"acc {event.train_accuracy:.3f} | val loss {event.val_loss:.3f} "
                       f"acc {event.val_accuracy:.3f}{'  (best)' if event.is_best else ''}")

    total_steps: list[int] = []
    cancel = threading.Event()
    with PhaseBars(args) as bars:
        result = run_cancellable(
            lambda: fit(config, dataset, progress, cancel, output=args.output,
                        resume=args.resume), cancel
        )
    if not me.is_main:
        return 0 if result.model_path else EXIT_INTERRUPTED
    summary = {
        "model": result.model_path, "run_id": result.run_id, "stopped": result.stopped,
        "best_epoch": result.best_epoch, "val_accuracy": result.best_val_accuracy,
        "val_loss": result.best_val_loss if result.history else None,
        "baseline_accuracy": result.baseline_accuracy, "seconds": round(result.seconds, 2),
        "warnings": list(result.warnings),
    }
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(summary)
    elif result.model_path is None:
        print("stopped before the first epoch finished: no model was saved")
    else:
        baseline = (f" (zero-shot baseline {result.baseline_accuracy:.3f})"
                    if result.baseline_accuracy is not None else "")
        print(f"{result.stopped}: best epoch {result.best_epoch}, validation accuracy "
              f"{result.best_val_accuracy:.3f}{baseline}, {result.seconds:.1f} s")
        print(f"model saved to {result.model_path}")
    return 0 if result.model_path else EXIT_INTERRUPTED


def _evaluate(args: argparse.Namespace) -> int:
    from training.fitting.modelfile import load_model
    from training.predict.evaluation import evaluate, model_split

    model = load_model(args.model)
    dataset = usable_dataset(args)
    if model.metadata.get("dataset_fingerprint") not in (None, dataset.fingerprint):
        print("note: the dataset changed since this model was trained; the split is drawn "
              "again from the model's seed", file=sys.stderr)
    split = model_split(model, dataset)
    with ProgressBar(args, f"evaluate {args.part}", len(split.part(args.part))) as update:
        report = evaluate(model, dataset, args.part, split, progress=update,
                          unfamiliar_percentile=args.unfamiliar_percentile)
    if args.json:
        print_json({**asdict(report), "mistakes": report.mistakes[:args.mistakes]})
        return 0
    print(f"{report.part}: accuracy {report.accuracy:.3f} on {report.images} images "
          f"(loss {report.loss:.3f})")
    width = max(len(name) for name in report.classes) + 2
    print("confusion (rows: true, columns: predicted)")
    print(" " * width + "".join(f"{name[:10]:>11}" for name in report.classes))
    for name, row in zip(report.classes, report.confusion, strict=True):
        print(f"{name:<{width}}" + "".join(f"{count:>11}" for count in row))
    print(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'images':>8}")
    for scores in report.per_class:
        print(f"{scores.name:<{width}}{scores.precision:>10.3f}{scores.recall:>10.3f}"
              f"{scores.f1:>10.3f}{scores.support:>8}")
    if report.mistakes:
        print("worst mistakes:")
        for mistake in report.mistakes[:args.mistakes]:
            print(f"  {mistake.path}: {mistake.true_label} predicted as "
                  f"{mistake.predicted_label} ({mistake.confidence:.2f})")
    if report.unfamiliar_fraction is None:
        print("none of these: this model has no novelty data (train it again to get it)")
    else:
        flagged = sum(o.unfamiliar for o in report.outcomes)
        print(f"none of these: {flagged} of {report.images} {report.part} images "
              f"({report.unfamiliar_fraction:.1%}) are stranger than "
              f"{report.unfamiliar_percentile:g} % of the validation images")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from training.models.backbones import IMAGENET_MODEL
    from training.predict.inference import Prediction, Predictor
    from training.predict.results_csv import MAX_CLASS_COLUMNS, write_results_csv
    from training.predict.sorting import sort_into_folders, sorting_label

    listing = images_in(args.paths)
    files = listing.images
    predictor = Predictor.imagenet() if args.model == IMAGENET_MODEL \
        else Predictor.from_file(args.model)
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
        summary = sort_into_folders(((p.path, sorting_label(p.label, p.unfamiliar))
                                     for p in results if p.label),
                                    args.sort_into, move=args.move)
        print(f"{args.sort_into}: {summary.describe('moved' if args.move else 'copied')}",
              file=sys.stderr)
    failures = sum(1 for p in results if p.error) - len(skipped)
    skipped_ids = {id(p) for p in skipped}
    if args.json:
        print_json([{
            "path": p.path, "label": p.label, "confidence": p.confidence, "error": p.error,
            "skipped": id(p) in skipped_ids, "novelty": p.novelty, "none_of_these": p.unfamiliar,
            "probabilities": dict(zip(columns, p.probabilities, strict=False)) if columns
            else None,
        } for p in results])
    else:
        for p in results:
            print(_prediction_line(p))
        unfamiliar = sum(p.unfamiliar for p in results)
        print(f"{len(results) - failures - len(skipped)} classified, {failures} could not be "
              f"read, {len(skipped)} skipped (not images)"
              + (f", {unfamiliar} none of these" if predictor.calibration else "")
              + (f"; results written to {args.csv}" if args.csv else ""), file=sys.stderr)
    return EXIT_USER_ERROR if args.sort_into and summary.failed else 0


def _prediction_line(p: Any) -> str:
    """path, label, confidence, tab-separated; 'none of these' names the closest class."""
    if p.error is not None and p.error.startswith(f"{SKIPPED}: "):
        return f"{p.path}\tSKIPPED\t{p.error.removeprefix(f'{SKIPPED}: ')}"
    if p.error is not None:
        return f"{p.path}\tERROR\t{p.error}"
    if p.unfamiliar:
        return f"{p.path}\tnone of these\t{p.confidence:.3f}\tclosest: {p.label}"
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


def _runs(args: argparse.Namespace) -> int:
    from training.fitting.runs import list_runs

    records = list_runs(args.data)
    if args.json:
        print_json([{k: v for k, v in asdict(r).items() if k != "step_losses"}
                      for r in records])
        return 0
    if not records:
        print(f"no runs recorded for {args.data.resolve()}")
    for r in records:
        data = f"{r.data_used} images" if r.data_used else "-"
        print(f"{r.run_id}  {r.config['mode']:<8} {r.config['backbone']:<20} {data:<20} "
              f"val acc {r.best_val_accuracy:.3f}  {r.seconds:7.1f} s  {r.stopped:<15} "
              f"{r.model_path or '-'}")
    return 0


def _backbones(args: argparse.Namespace) -> int:
    from training.models.backbones import BACKBONES

    if args.json:
        print_json([{"name": b.name, "title": b.title, "needs_download": b.needs_download,
                      "source": b.source} for b in BACKBONES.values()])
        return 0
    for backbone in BACKBONES.values():
        where = "downloads on first use" if backbone.needs_download else "available offline"
        print(f"{backbone.name:<20} {backbone.title:<36} {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
