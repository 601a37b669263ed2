"""`cheetahlion-cli` commands that look at a dataset before any training.

    cheetahlion-cli scan DATA                    check a dataset folder
    cheetahlion-cli baseline DATA                zero-shot ImageNet accuracy, no training

`scan` exits 1 when the folder cannot be trained on, so a script can check a folder first.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from training.cli.support import (
    EXIT_USER_ERROR,
    ProgressBar,
    add_output_options,
    add_split_options,
    print_json,
    scan_with_progress,
    usable_dataset,
)
from training.core.errors import CheetahLionError

_ISSUES_NAMING_FILES_BELOW = frozenset({"unsupported_files", "loose_files"})
"""Issues whose message counts files without naming them: `scan` lists them underneath."""


def register(commands: Any) -> None:
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
