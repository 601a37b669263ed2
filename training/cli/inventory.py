"""`cheetahlion-cli` commands that list what there is: past runs and trainable networks.

    cheetahlion-cli runs DATA                    the history of runs on a dataset
    cheetahlion-cli backbones                    the networks you can train

A module of their own so that they keep their place after `export` in the help's list.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.cli.support import add_output_options, print_json
from training.records.run_record import RunRecord


def register(commands: Any) -> None:
    runs = commands.add_parser("runs", help="list the training runs on a dataset")
    runs.add_argument("data", type=Path)
    add_output_options(runs)
    runs.set_defaults(handler=_runs)

    backbones = commands.add_parser("backbones", help="list the networks you can train")
    add_output_options(backbones)
    backbones.set_defaults(handler=_backbones)


def _runs(args: argparse.Namespace) -> int:
    from training.records.runs import list_runs

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
              f"{_score(r)} {r.kept_mark:<13} {r.seconds:7.1f} s  "
              f"{r.stopped:<15} "
              f"{r.model_path or '-'}")
        if r.model_note:
            print(f"    {r.model_note}")
    return 0


def _score(r: RunRecord) -> str:
    """"val acc 0.933 bal 0.910" (balanced accuracy: the mean per-class recall; each
    class's recall is in `--json`); a multi-label run's "val mAP 0.912" (its macro-F1 and
    exact match are in `--json`). A run stopped before its first epoch has none: "—", not
    0.000; so has a record from before balanced accuracy was recorded."""
    if r.is_multilabel:
        return f"val mAP {_figure(r.val_map if r.epochs else None):<5}"
    return (f"val acc {_figure(r.best_val_accuracy if r.epochs else None):<5} "
            f"bal {_figure(r.val_balanced_accuracy if r.epochs else None):<5}")


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _backbones(args: argparse.Namespace) -> int:
    from training.records.backbones import BACKBONES

    if args.json:
        print_json([{"name": b.name, "title": b.title, "offline": b.offline,
                      "needs_download": b.needs_download, "availability": b.availability,
                      "input_size": b.preprocessing.crop, "source": b.source}
                     for b in BACKBONES.values()])
        return 0
    for backbone in BACKBONES.values():
        print(f"{backbone.name:<20} {backbone.title:<38} {backbone.availability}")
    return 0
