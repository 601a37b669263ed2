"""The multi-label finder on sets with known answers and planted label errors (issue 23).

Per composition (`_multilabel_sets.py`: mosaic, attributes) and seed, `--images` images
(default 300) are composed from all the shared photos with their true labels; then `--errors`
(default 5 %) images, drawn from the seed, get one label error each in labels.csv: half lose
a label they show ("missing"), half gain one they do not show ("wrong"). The finder
(`find_label_suspects`, 5 folds, in a fresh home: features computed cold) then ranks the
photos. A planted error is found when its photo is flagged and its doubts name the planted
label with the planted kind. Reported: precision and recall of the flags, precision at the
number planted (the top N rows), recall in the top 2N rows, the errors the flags found per
kind, and the seconds (scan excluded; features computed cold, the folds, judging).

    .venv/bin/python benchmarks/multilabel_finder.py            # 2 sets × 2 seeds
    .venv/bin/python benchmarks/multilabel_finder.py --quick    # checks the script
"""

from __future__ import annotations

import csv
import random
import shutil
import time
from pathlib import Path
from typing import Any

import _common
import _multilabel_sets as sets

from training.data.multilabel_scan import scan_multilabel
from training.insight.multilabel_suspects import find_label_suspects
from training.models.embedding import default_store
from training.models.frozen import prepare_frozen_runtime
from training.records.config import TrainConfig

SETTINGS = {"quick": {"seeds": [0], "images": 60}, "full": {"seeds": [0, 1], "images": 300}}
ERROR_SHARE = 0.05


def plant(folder: Path, seed: int, share: float) -> dict[str, tuple[str, str]]:
    """Rewrite folder/labels.csv with one error on `share` of the rows; {relpath: (kind,
    label)} of the errors."""
    with (folder / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = sorted({n for row in rows for n in row["labels"].split(";") if n})
    rng = random.Random(f"plant/{seed}")
    chosen = rng.sample(range(len(rows)), max(2, round(share * len(rows))))
    planted: dict[str, tuple[str, str]] = {}
    for number, index in enumerate(chosen):
        labels = {n for n in rows[index]["labels"].split(";") if n}
        absent = [n for n in names if n not in labels]
        if (number % 2 == 0 and labels) or not absent:
            label = rng.choice(sorted(labels))
            labels.discard(label)
            planted[rows[index]["path"]] = ("missing", label)
        else:
            label = rng.choice(absent)
            labels.add(label)
            planted[rows[index]["path"]] = ("wrong", label)
        rows[index]["labels"] = ";".join(sorted(labels))
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", "labels"))
        writer.writerows((row["path"], row["labels"]) for row in rows)
    return planted


def measure(kind: str, seed: int, images: int, work: Path, graphs: Path) -> dict[str, Any]:
    _common.fresh_home(work, f"{kind}-{seed}", graphs)
    folder = work / "sets" / f"{kind}-{seed}"
    sets.write_part(kind, sets.kinds_of(_common.require_data(DATA)), images, folder,
                    f"finder/{kind}/{seed}")
    planted = plant(folder, seed, ERROR_SHARE)
    started = time.perf_counter()
    report = find_label_suspects(scan_multilabel(folder), seed=seed)
    seconds = time.perf_counter() - started
    default_store().close()
    shutil.rmtree(folder, ignore_errors=True)

    def found(suspect: Any) -> bool:
        kind_label = planted.get(suspect.relpath)
        return kind_label is not None and any((d.kind, d.label) == kind_label
                                              for d in suspect.doubts)

    flagged = report.flagged
    hits = [s for s in flagged if found(s)]
    top = report.suspects[:len(planted)]
    by_kind = {k: (sum(1 for s in hits if planted[s.relpath][0] == k),
                   sum(1 for v in planted.values() if v[0] == k)) for k in ("missing", "wrong")}
    return {"set": kind, "seed": seed, "images": len(report.suspects), "planted": len(planted),
            "flagged": len(flagged), "precision": len(hits) / max(len(flagged), 1),
            "recall": len(hits) / len(planted),
            "precision_at_planted": sum(1 for s in top if found(s)) / len(planted),
            "recall_at_twice": sum(1 for s in report.suspects[:2 * len(planted)] if found(s))
            / len(planted),
            "missing_found": by_kind["missing"], "wrong_found": by_kind["wrong"],
            "seconds": seconds}


DATA = _common.DEFAULT_DATA


def main() -> None:
    global DATA
    parser = _common.parser(__doc__)
    parser.add_argument("--images", type=int, help="images per set (default 300)")
    parser.add_argument("--seeds", help="comma-separated seeds (default 0,1)")
    args = parser.parse_args()
    settings = SETTINGS["quick" if args.quick else "full"]
    DATA = args.data
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else settings["seeds"]
    images = args.images or settings["images"]
    work = _common.workspace("multilabel-finder")
    graphs = work / "graphs"
    _common.fresh_home(work, "setup", graphs)
    prepare_frozen_runtime(TrainConfig.quick().backbone)
    results = []
    for kind in sets.COMPOSITIONS:
        for seed in seeds:
            _common.progress(f"{kind} seed {seed}: {images} images ...")
            results.append(measure(kind, seed, images, work, graphs))
            _common.progress(f"  {results[-1]}")
    rows = [[r["set"], r["seed"], r["images"], r["planted"], r["flagged"], r["precision"],
             r["recall"], r["precision_at_planted"], r["recall_at_twice"],
             "{}/{}".format(*r["missing_found"]), "{}/{}".format(*r["wrong_found"]),
             f"{r['seconds']:.1f}"] for r in results]
    text = _common.table(["set", "seed", "images", "planted", "flagged", "precision", "recall",
                          "precision@planted", "recall@2×planted", "missing found",
                          "wrong found", "seconds (cold)"], rows)
    _common.report(args, "Multi-label finder: planted label errors", text, {"sets": results})


if __name__ == "__main__":
    main()
