"""The multi-label side of the clean-up commands: the label finder and label edits.

    cheetahlion-cli suspects DATA [--multi-label]     likely missing and wrong labels, and why
    cheetahlion-cli label DATA PHOTO --add L          add a label (labels.csv or a copy into L/)
    cheetahlion-cli label DATA PHOTO --remove L [--quarantine DIR] [--expected-hash H]
    cheetahlion-cli undo DATA (ID | --last)           undoes label edits too

`suspects` comes here when DATA holds labels.csv or with `--multi-label` (class folders that
share photos). Edits are journalled (`training.insight.label_edits`) and listed by `moves`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from training.cli.support import PhaseBars, add_output_options, print_json

REASON_WIDTH = 100


def register(commands: Any) -> None:
    label = commands.add_parser(
        "label", help="add a label to a photo of a multi-label dataset, or take one off "
                      "(undoable)",
        description="In a folder with labels.csv, rewrite the photo's row (the file's "
                    "earlier version is kept for `undo`). In label folders, --add copies the "
                    "photo into the label's folder and --remove moves its copy there out to "
                    "--quarantine.")
    label.add_argument("data", type=Path)
    label.add_argument("photo", type=Path, metavar="PHOTO",
                       help="the photo, as a path or relative to DATA")
    change = label.add_mutually_exclusive_group(required=True)
    change.add_argument("--add", metavar="LABEL")
    change.add_argument("--remove", metavar="LABEL")
    label.add_argument("--quarantine", type=Path, metavar="DIR",
                       help="label folders: where --remove moves the photo's copy")
    label.add_argument("--expected-hash", metavar="HASH",
                       help="labels.csv's labels_file_hash as `suspects --json` read it: the "
                            "edit is refused if the file changed since")
    add_output_options(label)
    label.set_defaults(handler=_label)


def _label(args: argparse.Namespace) -> int:
    from training.insight.label_edits import edit_label

    action = "add" if args.add is not None else "remove"
    change = edit_label(args.data, args.photo, args.add or args.remove, action,
                        quarantine=args.quarantine, expected_hash=args.expected_hash)
    if args.json:
        print_json(change)
    else:
        print(f"{change.change_id:>4}  {change.describe()}")
        print(f"`cheetahlion-cli undo {args.data} {change.change_id}` reverts it.")
    return 0


def suspects(args: argparse.Namespace, kept: frozenset[str]) -> int:
    """Likely missing and wrong labels of a multi-label dataset, most suspicious first."""
    from training.cli.multilabel import scan
    from training.insight.multilabel_suspects import find_label_suspects

    dataset = scan(args)
    with PhaseBars(args) as bars:
        report = find_label_suspects(dataset, bars.update, seed=args.seed)
    shown = [s for s in report.suspects if args.include_kept or s.content_hash not in kept]
    if args.json:
        print_json({"task": "multi-label", "labels": report.labels, "folds": report.folds,
                    "seconds": report.seconds, "labels_file_hash": report.labels_file_hash,
                    "unjudged_labels": report.unjudged_labels,
                    "hidden_kept": len(report.suspects) - len(shown),
                    "suspects": [{**_plain(s), "flagged": s.flagged,
                                  "worth_a_look": s.worth_a_look} for s in shown]})
        return 0
    print(f"{len(report.flagged)} of {len(report.suspects)} photos flagged with a likely "
          f"missing or wrong label, {len(report.worth_a_look)} more worth a look "
          f"({report.folds} held-out folds; {report.seconds:.1f} s)")
    if report.unjudged_labels:
        print(f"not checked (too few photos with or without them): "
              f"{', '.join(report.unjudged_labels)}")
    rows = [s for s in shown if s.doubts][:max(args.top, 0)]
    if rows:
        width = max(len(s.relpath) for s in rows)
        print(f"{'rank':>4}  {'score':>5}  {'file':<{width}}  {'labels':<20} reason")
        for rank, s in enumerate(rows, start=1):
            for line, doubt in enumerate(s.doubts):
                lead = f"{rank:>4}  {s.score:>5.2f}  {s.relpath:<{width}}  " \
                       f"{';'.join(s.labels) or '-':<20} " if not line else \
                       " " * (4 + 2 + 5 + 2 + width + 2 + 21)
                print(f"{lead}{doubt.reason[:REASON_WIDTH]}")
    return 0


def _plain(suspect: Any) -> dict[str, Any]:
    return {"path": suspect.path, "relpath": suspect.relpath, "labels": suspect.labels,
            "score": suspect.score, "content_hash": suspect.content_hash,
            "doubts": [{"label": d.label, "kind": d.kind, "held_out": d.held_out,
                        "score": d.score, "reason": d.reason} for d in suspect.doubts]}

