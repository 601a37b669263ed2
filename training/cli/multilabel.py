"""The multi-label side of `train`, `evaluate` and `predict`.

    cheetahlion-cli train DATA -o MODEL --multi-label   (DATA/labels.csv, or class folders
                                                          sharing photos; --mode finetune
                                                          fine-tunes the whole network)
    cheetahlion-cli evaluate MODEL DATA                 mAP, macro/micro F1, exact match,
                                                          calibration (pooled ECE)
    cheetahlion-cli predict MODEL PATH... [--csv FILE] [--sort-into FOLDER]
                                          [--unsure-chance PERCENT]

`train` comes here with `--multi-label` or when DATA holds `labels.csv`; `evaluate` and
`predict` when the model file says `task: "multi-label"`. A multi-label fine-tune cannot be
resumed (it keeps no checkpoint).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.cli.support import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    PhaseBars,
    ProgressBar,
    images_in,
    print_frozen_run,
    print_json,
    run_cancellable,
    sigint_ignored,
)
from training.core.errors import CheetahLionError
from training.records.multilabel import LABELS_FILE, MultiLabelDataset


def wanted(args: argparse.Namespace) -> bool:
    """Whether `train` trains a multi-label model: asked for, or DATA holds labels.csv."""
    return bool(getattr(args, "multi_label", False)) or (Path(args.data) / LABELS_FILE).is_file()


def scan(args: argparse.Namespace) -> MultiLabelDataset:
    """DATA as a multi-label dataset: its labels.csv, else its class folders (a photo in
    several folders has each of their labels). Refused when it cannot train."""
    from training.data.multilabel_scan import scan_multilabel

    bar = tqdm(desc="scan", unit="img", disable=args.quiet or args.json, leave=False)

    def update(event: Any) -> None:
        bar.total = getattr(event, "total", bar.total)
        bar.update(getattr(event, "done", bar.n) - bar.n)

    try:
        dataset = scan_multilabel(args.data, from_folders=not (Path(args.data) / LABELS_FILE)
                                  .is_file(), progress=update)
    finally:
        bar.close()
    if not dataset.report.can_train:
        raise CheetahLionError(dataset.report.errors[0].message)
    return dataset


def train(args: argparse.Namespace, config_for: Callable[[], Any],
          progress_for: Callable[[PhaseBars], Callable[[Any], None]]) -> int:
    """Train a multi-label model (quick, or fine-tuned with --mode finetune); report its
    figures (or JSON). `config_for()` gives the options' `TrainConfig`, `progress_for(bars)`
    the training callback."""
    from training.data.multilabel_split import split_multilabel
    from training.fitting.multilabel import fit_multilabel

    if args.resume:
        raise CheetahLionError("--resume carries on single-label fine-tunes only: a "
                               "multi-label run keeps no checkpoint. Leave out --resume and "
                               "train it again.")
    config = config_for()
    dataset = scan(args)
    split = split_multilabel(dataset, val_fraction=config.val_fraction, seed=config.seed)
    cancel = threading.Event()
    with PhaseBars(args) as bars:
        progress = progress_for(bars)
        result = run_cancellable(lambda: fit_multilabel(config, dataset, split, progress, cancel,
                                                        output=args.output), cancel)
    with sigint_ignored():
        _report_training(args, result, config.mode)
    return 0 if result.model_path else EXIT_INTERRUPTED


def _report_training(args: argparse.Namespace, result: Any, mode: str) -> None:
    summary = {
        "task": "multi-label", "mode": mode, "model": result.model_path,
        "run_id": result.run_id, "kept_quick_head": result.kept_quick_head,
        "kept_note": result.kept_note,
        "stopped": result.stopped, "best_epoch": result.best_epoch,
        "val_loss": result.best_val_loss if result.history else None,
        "val_map": result.val_map, "val_macro_f1": result.val_macro_f1,
        "val_micro_f1": None if result.validation is None else result.validation.micro_f1,
        "val_exact_match": result.val_exact_match,
        "thresholds": dict(zip(result.labels, result.thresholds, strict=False)),
        "started_from_imagenet": result.started_from_imagenet,
        **_calibration_json(result.calibration),
        "seconds": round(result.seconds, 2), "warnings": list(result.warnings),
    }
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.kept_note and not args.json:
        print(f"note: {result.kept_note}", file=sys.stderr)
    if args.json:
        print_json(summary)
    elif result.model_path is None:
        print("stopped before the first epoch finished: no model was saved")
    else:
        print(f"{len(result.labels)} labels: validation mAP {result.val_map:.3f}, macro-F1 "
              f"{result.val_macro_f1:.3f}, exact match {result.val_exact_match:.3f}; "
              f"{_kept(result)}, {result.seconds:.1f} s")
        if result.calibration is not None:
            print(f"calibration: {result.calibration.describe()}")
        print(f"model saved to {result.model_path}")


def _calibration_json(calibration: Any) -> dict[str, Any]:
    """The validation ECE pooled over the labels, before and after, and each label's
    temperature (None for a run stopped before it had a model)."""
    if calibration is None:
        return {"ece_before": None, "ece_after": None, "temperatures": None}
    return {"ece_before": calibration.ece_before, "ece_after": calibration.ece_after,
            "temperatures": {label.name: label.temperature for label in calibration.labels},
            "calibration": calibration.to_dict()}


def _kept(result: Any) -> str:
    """Which model the run kept, in a few words."""
    if result.kept_quick_head:
        return "kept the quick-mode head (fine-tuning did no better)" if result.history \
            else "kept the quick-mode head (stopped before the first fine-tuning epoch)"
    return f"best epoch {result.best_epoch}"


def evaluate(args: argparse.Namespace, metadata: dict[str, Any]) -> int:
    """Score a multi-label model on the part of DATA's split it names."""
    from training.data.multilabel_split import split_multilabel
    from training.predict.multilabel import evaluate_multilabel

    dataset = scan(args)
    config = metadata.get("config") or {}
    if metadata.get("dataset_fingerprint") not in (None, dataset.fingerprint):
        print("note: the dataset changed since this model was trained; the split is drawn "
              "again from the model's seed", file=sys.stderr)
    split = split_multilabel(dataset, val_fraction=config.get("val_fraction", 0.2),
                             seed=config.get("seed", 0))
    indices = split.part(args.part)
    if not indices:
        raise CheetahLionError(f"{args.data}: the split has no {args.part} images to evaluate.")
    report = evaluate_multilabel(args.model, dataset, indices, part=args.part)
    if args.json:
        print_json({**_report_json(report), "mistakes": report.mistakes[:args.mistakes]})
    else:
        print_evaluation(report, args.mistakes)
    return 0


def _report_json(report: Any) -> dict[str, Any]:
    return {"task": "multi-label", "part": report.part, "labels": report.labels,
            "map": report.mean_average_precision, "macro_f1": report.macro_f1,
            "micro_f1": report.micro_f1, "exact_match": report.exact_match,
            "images": len(report.outcomes), "per_label": report.per_label,
            "unreadable": report.unreadable, "ece": report.reliability().ece,
            "ece_before": report.reliability(calibrated=False).ece,
            "calibration": None if report.calibration is None
            else report.calibration.to_dict()}


def print_evaluation(report: Any, mistakes: int) -> None:
    """The figures, a line per label, and the worst mistakes as missed/spurious labels."""
    print(f"{report.part}: mAP {report.mean_average_precision:.3f}, macro-F1 "
          f"{report.macro_f1:.3f}, micro-F1 {report.micro_f1:.3f}, exact match "
          f"{report.exact_match:.3f} on {len(report.outcomes)} images")
    width = max(len(name) for name in report.labels) + 2
    print(f"{'label':<{width}}{'precision':>10}{'recall':>8}{'f1':>8}{'AP':>8}"
          f"{'threshold':>10}{'TP':>6}{'FP':>6}{'FN':>6}{'TN':>6}")
    for s in report.per_label:
        print(f"{s.name:<{width}}{s.precision:>10.3f}{s.recall:>8.3f}{s.f1:>8.3f}"
              f"{s.average_precision:>8.3f}{s.threshold:>10.3f}{s.true_positives:>6}"
              f"{s.false_positives:>6}{s.false_negatives:>6}{s.true_negatives:>6}")
    worst = sorted(report.mistakes, key=lambda o: -(len(o.missed) + len(o.spurious)))
    if worst:
        print("worst mistakes:")
    for outcome in worst[:mistakes]:
        print(f"  {outcome.path}: missed {', '.join(outcome.missed) or '-'}; spurious "
              f"{', '.join(outcome.spurious) or '-'}")
    _print_calibration(report)
    for line in report.unreadable:
        print(f"unreadable: {line}", file=sys.stderr)


def _print_calibration(report: Any) -> None:
    """The pooled ECE on the evaluated photos (and before the temperatures), and what the
    model file says."""
    after, stored = report.reliability(), report.calibration
    before = "" if stored is None else \
        f", {report.reliability(calibrated=False).ece:.3f} before the temperatures"
    print(f"calibration: ECE {after.ece:.3f} on these {len(report.outcomes)} {report.part} "
          f"photos (every label's probability, pooled{before}; "
          f"{after.chance_words('probabilities')})")
    print("model file: " + (stored.describe() if stored else
                            "trained before calibration (temperature 1, probabilities as "
                            "trained)"))


def predict(args: argparse.Namespace) -> int:
    """Label files with a multi-label model; CSV and copies into every label's folder."""
    from training.predict.multilabel import MultiLabelPredictor
    from training.predict.multilabel_csv import write_multilabel_csv
    from training.predict.results_csv import check_results_target
    from training.predict.sorting import NONE_OF_THESE_FOLDER, sort_into_folders

    if args.move:
        raise CheetahLionError("--move does not go with a multi-label model: a photo with "
                               "several labels is copied into each of their folders. Leave "
                               "out --move.")
    if args.csv:
        check_results_target(args.csv)
    listing = images_in(args.paths)
    predictor = MultiLabelPredictor.from_file(args.model,
                                              feature_precision=args.feature_precision)
    results = []
    with ProgressBar(args, "predict", len(listing.images)) as update:
        for done, prediction in enumerate(predictor.predict(listing.images, args.batch_size),
                                          start=1):
            results.append(prediction)
            update(done)
    if args.csv:
        write_multilabel_csv(args.csv, results, predictor.labels)
    failed = False
    if args.sort_into:
        pairs = [(p.path, label) for p in results if p.error is None
                 for label in (p.labels or (NONE_OF_THESE_FOLDER,))]
        summary = sort_into_folders(pairs, args.sort_into, classes=predictor.labels)
        print(f"{args.sort_into}: {summary.describe('copied')}", file=sys.stderr)
        failed = bool(summary.failed)
    _print_predictions(args, results, predictor, len(listing.skipped))
    return EXIT_USER_ERROR if failed else 0


def _print_predictions(args: argparse.Namespace, results: list[Any], predictor: Any,
                       skipped: int) -> None:
    """Each photo's labels and probabilities; JSON also says whether it is unsure: with
    --unsure-chance, some label's chance of being on the wrong side of its threshold is
    over it (`records.multilabel_calibration.unsure_labels`); without, some label near its
    threshold (the app's rule, `records.multilabel.is_unsure`)."""
    doubts = {p.path: _doubtful(args, p, predictor) for p in results if p.probabilities}
    frozen = predictor.frozen_run()
    unsure = {path for path, labels in doubts.items() if labels}
    if args.json:
        print_json([{"path": p.path, "labels": p.labels, "error": p.error,
                     "probabilities": dict(zip(predictor.labels, p.probabilities,
                                               strict=False)) if p.probabilities else None,
                     "unsure": p.path in unsure, "frozen": frozen.to_dict(),
                     **({"unsure_labels": list(doubts.get(p.path, ()))}
                        if args.unsure_chance is not None else {})}
                    for p in results])
    else:
        for p in results:
            doubt = ", ".join(doubts.get(p.path, ())) if args.unsure_chance is not None else ""
            print(f"{p.path}\tERROR\t{p.error}" if p.error else
                  f"{p.path}\t{';'.join(p.labels) or 'none of these'}\t" + " ".join(
                      f"{name}={value:.3f}" for name, value in zip(predictor.labels,
                                                                   p.probabilities,
                                                                   strict=True))
                  + (f"\tunsure: {doubt}" if doubt else ""))
    failures = sum(1 for p in results if p.error)
    print(f"{len(results) - failures} labelled ({len(unsure)} unsure: "
          f"{_unsure_rule(args, predictor)}), {failures} could not be read, {skipped} "
          "skipped (not images)" + (f"; results written to {args.csv}" if args.csv else ""),
          file=sys.stderr)
    print_frozen_run(frozen)


def _doubtful(args: argparse.Namespace, prediction: Any, predictor: Any) -> tuple[str, ...]:
    """The photo's labels in doubt: by --unsure-chance, each with its chance of being
    wrong; without it, by the app's rule (every label, when some label is near its
    threshold: the rule judges the photo)."""
    from training.records.multilabel import is_unsure
    from training.records.multilabel_calibration import chance_wrong, unsure_labels

    p, thresholds = prediction.probabilities, predictor.thresholds
    if args.unsure_chance is None:
        return tuple(predictor.labels) if is_unsure(p, thresholds) else ()
    return tuple(f"{predictor.labels[j]} {chance_wrong(p[j], thresholds[j]):.0%} chance wrong"
                 for j in unsure_labels(p, thresholds, args.unsure_chance / 100))


def _unsure_rule(args: argparse.Namespace, predictor: Any) -> str:
    """What "unsure" means here, in a few words."""
    from training.records.multilabel_calibration import HEADER_KEY

    if args.unsure_chance is None:
        return "a label near its threshold"
    calibrated = "" if predictor.model.metadata.get(HEADER_KEY) else \
        "; this model is not calibrated"
    return (f"a label over {args.unsure_chance:g} % chance of being on the wrong side of its "
            f"threshold{calibrated}")
