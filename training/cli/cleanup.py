"""`cheetahlion-cli` commands to find and clean up wrongly labelled images.

    cheetahlion-cli suspects DATA [--top N] [--include-kept]   images likely in the wrong folder
    cheetahlion-cli move DATA FILE... --to-class NAME           move images to another class
    cheetahlion-cli move DATA FILE... --quarantine DIR          move images out of the dataset
    cheetahlion-cli add DATA FILE... --to-class NAME            copy photos from outside in
    cheetahlion-cli keep DATA FILE... [--forget]                mark images as reviewed, right
    cheetahlion-cli moves DATA                                  the clean-up journal
    cheetahlion-cli undo DATA (ID | --last)                     move an image back

Moves and adds (copies) never overwrite a file and are recorded in the dataset's clean-up journal
(`training.insight.cleanup`), which the app's undo list reads too.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from training.cli.support import PhaseBars, add_output_options, print_json, usable_dataset
from training.core.errors import CheetahLionError
from training.records.multilabel import LABELS_FILE

DEFAULT_TOP = 20
REASON_WIDTH = 100
"""Wide enough for the longest first reason, which describes a folder without its name
("ImageNet sees a leopard (0.93); 124 of the 150 photos here look like a …")."""

MULTI_LABEL_HELP = ("label folders sharing photos: look for likely missing and wrong labels "
                    "instead (automatic when DATA holds labels.csv)")


def register(commands: Any) -> None:
    suspects = commands.add_parser(
        "suspects", help="list the images most likely to be in the wrong class folder",
        description="Score every image of the dataset for how likely its folder label is "
                    "wrong, most suspicious first. Images marked with `keep` are hidden.")
    suspects.add_argument("data", type=Path)
    suspects.add_argument("--top", type=int, default=DEFAULT_TOP,
                          help=f"rows to print (default {DEFAULT_TOP}); --json lists all")
    suspects.add_argument("--include-kept", action="store_true",
                          help="also list images marked as reviewed with `keep`")
    suspects.add_argument("--seed", type=int, default=0)
    suspects.add_argument("--multi-label", action="store_true", help=MULTI_LABEL_HELP)
    add_output_options(suspects)
    suspects.set_defaults(handler=_suspects)

    move = commands.add_parser(
        "move", help="move images to another class folder or out to a quarantine folder")
    move.add_argument("data", type=Path)
    move.add_argument("files", type=Path, nargs="+", metavar="FILE")
    target = move.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-class", metavar="NAME", help="a class of the dataset")
    target.add_argument("--quarantine", type=Path, metavar="DIR",
                        help="a folder outside the dataset; images go to DIR/<class>/")
    add_output_options(move)
    move.set_defaults(handler=_move)

    add = commands.add_parser(
        "add", help="copy photos from outside the dataset into one of its classes (undoable)",
        description="Copy photos into the folder of a class of the dataset; a new class name "
                    "makes a new class. A photo already in that class (same bytes) is not "
                    "copied again. `undo` removes a copy again; the originals are never "
                    "touched.")
    add.add_argument("data", type=Path)
    add.add_argument("files", type=Path, nargs="+", metavar="FILE")
    add.add_argument("--to-class", metavar="NAME", required=True,
                     help="a class of the dataset, or the name of a new one")
    add_output_options(add)
    add.set_defaults(handler=_add)

    keep = commands.add_parser("keep", help="mark images as reviewed and right where they are")
    keep.add_argument("data", type=Path)
    keep.add_argument("files", type=Path, nargs="+", metavar="FILE")
    keep.add_argument("--forget", action="store_true", help="remove the mark instead")
    add_output_options(keep)
    keep.set_defaults(handler=_keep)

    moves = commands.add_parser("moves", help="list the clean-up moves made on a dataset")
    moves.add_argument("data", type=Path)
    add_output_options(moves)
    moves.set_defaults(handler=_moves)

    undo = commands.add_parser("undo", help="move an image back to where it came from")
    undo.add_argument("data", type=Path)
    which = undo.add_mutually_exclusive_group(required=True)
    which.add_argument("move_id", type=int, nargs="?", metavar="ID",
                       help="the move's number, as `moves` lists it")
    which.add_argument("--last", action="store_true", help="the latest move still in effect")
    add_output_options(undo)
    undo.set_defaults(handler=_undo)


def _suspects(args: argparse.Namespace) -> int:
    from training.insight.suspects import find_suspects
    from training.records.journal import read_journal

    if args.multi_label or (args.data / LABELS_FILE).is_file():
        from training.cli.labels import suspects
        return suspects(args, read_journal(args.data).kept_hashes)
    dataset = usable_dataset(args)
    kept = read_journal(dataset.root).kept_hashes
    with PhaseBars(args) as bars:
        report = find_suspects(dataset, bars.update, seed=args.seed)
    shown = [s for s in report.suspects if args.include_kept or s.content_hash not in kept]
    if args.json:
        print_json({"classes": report.classes, "signals": report.signals,
                    "seconds": report.seconds, "hidden_kept": len(report.suspects) - len(shown),
                    "suspects": [{**_plain(s), "flagged": s.flagged,
                                  "worth_a_look": s.worth_a_look,
                                  "kept": s.content_hash in kept} for s in shown]})
        return 0
    print(f"{len(report.flagged)} of {len(report.suspects)} images flagged as likely in the "
          f"wrong folder, {len(report.worth_a_look)} more worth a look "
          f"(signals: {', '.join(report.signals)}; {report.seconds:.1f} s)")
    if len(shown) < len(report.suspects):
        print(f"{len(report.suspects) - len(shown)} image(s) marked `keep` are hidden "
              "(--include-kept shows them)")
    rows = shown[:max(args.top, 0)]
    if rows:
        width = max(len(s.relpath) for s in rows)
        print(f"{'rank':>4}  {'score':>5}  {'file':<{width}}  {'folder':<12} {'suggested':<12} "
              "reason")
        for rank, s in enumerate(rows, start=1):
            reason = s.reasons[0] if s.reasons else ""
            mark = " (kept)" if s.content_hash in kept else ""
            print(f"{rank:>4}  {s.score:>5.2f}  {s.relpath:<{width}}  {s.given:<12} "
                  f"{s.suggested or '-':<12} {reason[:REASON_WIDTH]}{mark}")
    return 0


def _plain(suspect: Any) -> dict[str, Any]:
    return {"path": suspect.path, "relpath": suspect.relpath, "given": suspect.given,
            "score": suspect.score, "suggested": suspect.suggested,
            "reasons": suspect.reasons,
            "looks_like": [{"name": name, "probability": p} for name, p in suspect.looks_like],
            "content_hash": suspect.content_hash}


def _move(args: argparse.Namespace) -> int:
    from training.insight.cleanup import move_to_class, move_to_quarantine

    if args.to_class is not None:
        outcome = move_to_class(args.data, args.files, args.to_class)
    else:
        outcome = move_to_quarantine(args.data, args.files, args.quarantine)
    if args.json:
        print_json(outcome)
    else:
        for move in outcome.moves:
            print(f"{move.move_id:>4}  {move.source} → {move.destination}")
        for failure in outcome.failures:
            print(f"not moved: {failure}")
        print(outcome.describe())
    if outcome.failures and not outcome.moves:
        raise CheetahLionError(outcome.failures[0])
    return 0


def _add(args: argparse.Namespace) -> int:
    from training.insight.adding import AlreadyInClass, add_to_class

    added, present, failures = [], [], []
    for file in args.files:
        try:
            added.append(add_to_class(args.data, file, args.to_class))
        except AlreadyInClass as error:
            present.append(str(error))
        except CheetahLionError as error:
            failures.append(str(error))
    if args.json:
        print_json({"added": added, "already_there": present, "failures": failures})
    else:
        for move in added:
            print(f"{move.move_id:>4}  {move.source} → {move.destination}")
        for line in (*present, *(f"not added: {f}" for f in failures)):
            print(line)
        print(f"{len(added)} photo(s) added to '{args.to_class}'"
              + (f", {len(present)} there already" if present else "")
              + (f", {len(failures)} not added" if failures else "") + ".")
    if failures and not added:
        raise CheetahLionError(failures[0])
    return 0


def _keep(args: argparse.Namespace) -> int:
    from training.data.images import content_hash
    from training.insight.cleanup import forget_kept, keep_images

    if args.forget:
        hashes = []
        for file in args.files:
            try:
                hashes.append(content_hash(file.read_bytes()))
            except OSError:
                raise CheetahLionError(f"{file} cannot be read; give an image file.") from None
        removed = forget_kept(args.data, hashes)
        if args.json:
            print_json({"forgotten": removed})
        else:
            print(f"{removed} keep mark(s) removed")
        return 0
    marks = keep_images(args.data, args.files)
    if args.json:
        print_json(marks)
    else:
        print(f"{len(marks)} image(s) marked as reviewed; `suspects` hides them")
    return 0


def _moves(args: argparse.Namespace) -> int:
    from training.records.journal import read_journal
    from training.records.label_journal import read_label_journal

    journal = read_journal(args.data)
    edits = read_label_journal(args.data).edits
    if args.json:
        print_json({**vars(journal), "label_edits": edits} if edits else journal)
        return 0
    if not journal.moves and not edits:
        print(f"no clean-up moves recorded for {journal.root}")
    entries = [(m.move_id, m.time, m.describe(), m.applied, m.undone_time) for m in journal.moves]
    entries += [(e.edit_id, e.time, e.describe(), e.applied, e.undone_time) for e in edits]
    for number, time, described, applied, undone_time in sorted(entries):
        state = "in effect" if applied else f"undone {undone_time or ''}".strip()
        described = described.replace("\0", "\\0")  # a damaged journal's NUL, shown
        print(f"{number:>4}  {time.replace('T', ' ')[:16]}  {described:<60} {state}")
    if journal.keeps:
        print(f"{len(journal.keeps)} image(s) marked as reviewed (keep)")
    return 0


def _undo(args: argparse.Namespace) -> int:
    from training.insight.label_edits import LabelUndo, undo_change

    outcome = undo_change(args.data, None if args.last else args.move_id)
    if args.json:
        print_json(outcome)
    elif isinstance(outcome, LabelUndo):
        print(f"{outcome.edit.edit_id}: {outcome.edit.file} restored from {outcome.edit.backup}")
        print(outcome.describe())
    else:
        move = outcome.move
        print(f"{move.move_id}: removed the copy {move.destination}" if move.kind == "add"
              else f"{move.move_id}: {move.destination} → {outcome.restored_to}")
        print(outcome.describe())
    return 0
