"""Multi-label labelling order (issue 24): labels each order needs to reach the all-labels mAP.

A simulated labeller on the composed multi-label sets (`_multilabel_sets.py`: `attributes`,
one photo with its kind plus greyscale / night / close-up; `mosaic`, 2×2 grids of 0-3
photos; leopard the rare label, 5 % of the images). Per composition and seed, `--pool`
composed images are the unlabelled pool and `--test` held-out images (from photos the pool
never shows) the test set. The labeller starts with `--start` pool images drawn by the seed
(the same for every order) and then labels `--batch` images at a time, every label of each
at once (what the review's Enter does), in the order each strategy gives, until the pool is
empty or the curve has reached 99 % of the all-labels mAP:

- *ours*: `training.insight.multilabel_labelling` (the mean over labels of each label's
  margin to its threshold in log-odds, near-copies of what is labelled or picked held back,
  greedy): what the app's Review unsure and `next-to-label` do;
- *max label*: the same greedy order scored by the single most unsure label, the other
  usual choice ("max loss");
- *uncertainty*: ours without the near-copy discount (the highest mean margin first);
- *random*: a seeded shuffle;
- *listing*: the pool in file order (the composed images' numbers, themselves drawn at
  random: no bursts of near-copies side by side here).

After each batch the quick multi-label head (`training.fitting.multilabel_head.HeadTraining`,
TrainConfig.quick(): pos-weighted BCE, L-BFGS to convergence, a fresh head) is refitted on
the stored pretrained features of the labelled images, and scored on the test images: mAP
over the labels with a test positive. The orders decide at threshold 0.5 (the app uses the
thresholds chosen on validation; the pos-weighted head's own balance point is 0.5, and
with a handful of labels there is no validation set to choose on). Reported: labels needed to
reach 95 % and 99 % of the mAP with every pool image labelled, and the mean test mAP over
the first `EARLY_LABELS` labels. Target: ours needs fewer labels than random and listing
to reach 95 % (mean over the seeds, per composition).

    .venv/bin/python benchmarks/multilabel_labelling_order.py              # 2 sets × 3 seeds
    .venv/bin/python benchmarks/multilabel_labelling_order.py --quick      # checks the script
"""

from __future__ import annotations

import random
import statistics
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import _multilabel_sets as sets
import numpy as np
import torch
from torch import nn

from training.fitting.multilabel_head import HeadTraining
from training.fitting.multilabel_metrics import average_precision
from training.insight.labelling_order import greedy_order
from training.insight.multilabel_labelling import (
    label_uncertainty,
    multilabel_labelling_order,
    multilabel_uncertainty,
)
from training.models.embedding import default_store, embed_dataset
from training.models.frozen import pretrained_frozen
from training.records.config import TrainConfig
from training.records.events import ignore_event

STRATEGIES = ("ours", "max label", "uncertainty", "random", "listing")
THRESHOLD = 0.5
EARLY_LABELS = 100
QUICK_SETTINGS = {"seeds": [0], "pool": 60, "test": 30, "start": 10, "sets": ["attributes"]}
FULL_SETTINGS = {"seeds": [0, 1, 2], "pool": 400, "test": 200, "start": 20,
                 "sets": list(sets.COMPOSITIONS)}

Head = nn.Linear
Picker = Callable[[list[int], list[int], Head], list[int]]


def fit_head(features: torch.Tensor, targets: torch.Tensor) -> Head:
    """The quick multi-label head on these labelled images (a fresh head, fitted to
    convergence; the fit's own validation figures are not used, so it scores itself)."""
    head = nn.Linear(features.shape[1], targets.shape[1])
    HeadTraining(head, (features, targets), (features, targets), TrainConfig.quick(),
                 ignore_event, threading.Event()).run()
    return head


def probabilities(head: Head, features: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(head(features)).numpy().astype(np.float64)


def mean_average_precision(head: Head, features: torch.Tensor, targets: torch.Tensor
                           ) -> float:
    scores, truth = probabilities(head, features), targets.numpy()
    values = [average_precision(scores[:, j], truth[:, j]) for j in range(truth.shape[1])
              if truth[:, j].any()]
    return float(np.mean(values))


def pickers(features: torch.Tensor, labels: int, batch: int, seed: int) -> dict[str, Picker]:
    """Each strategy: (pool rows left, labelled rows, current head) → the next rows."""
    shuffled = random.Random(f"ml-labelling/{seed}")
    thresholds = [THRESHOLD] * labels

    def ours(left: list[int], labelled: list[int], head: Head) -> list[int]:
        order = multilabel_labelling_order(features[left].numpy(),
                                           probabilities(head, features[left]), thresholds,
                                           features[labelled].numpy(), limit=batch)
        return [left[pick.index] for pick in order]

    def max_label(left: list[int], labelled: list[int], head: Head) -> list[int]:
        most = label_uncertainty(probabilities(head, features[left]), thresholds).max(axis=1)
        order = greedy_order(features[left].numpy(), most, lambda _: "",
                             features[labelled].numpy(), limit=batch)
        return [left[pick.index] for pick in order]

    def uncertainty(left: list[int], labelled: list[int], head: Head) -> list[int]:
        scores = multilabel_uncertainty(probabilities(head, features[left]), thresholds)
        return [left[i] for i in np.argsort(-scores, kind="stable")[:batch]]

    def random_order(left: list[int], labelled: list[int], head: Head) -> list[int]:
        return shuffled.sample(left, min(batch, len(left)))

    def listing(left: list[int], labelled: list[int], head: Head) -> list[int]:
        return sorted(left)[:batch]

    return {"ours": ours, "max label": max_label, "uncertainty": uncertainty,
            "random": random_order, "listing": listing}


def simulate(data: tuple[torch.Tensor, torch.Tensor], pool: list[int], test: list[int],
             start: list[int], pick: Picker, stop_at: float) -> list[tuple[int, float]]:
    """(labels given, test mAP) after the start and after each batch, until the mAP has
    reached `stop_at` with at least EARLY_LABELS labels, or the pool is empty."""
    features, targets = data
    labelled, curve = list(start), []
    left = [i for i in pool if i not in set(start)]
    while True:
        head = fit_head(features[labelled], targets[labelled])
        score = mean_average_precision(head, features[test], targets[test])
        curve.append((len(labelled), score))
        if not left or (score >= stop_at and len(labelled) >= EARLY_LABELS):
            return curve
        chosen = pick(left, labelled, head)
        labelled += chosen
        left = [i for i in left if i not in set(chosen)]


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int:
    return next(count for count, score in curve if score >= target - 1e-12)


def early_mean(curve: list[tuple[int, float]]) -> float:
    return statistics.fmean(score for count, score in curve if count <= EARLY_LABELS)


def run_set(data: Path, kind: str, seed: int, settings: dict[str, Any], batch: int,
            work: Path) -> dict[str, Any]:
    """Every strategy's curve on one composed set."""
    composed = sets.compose(data, kind, seed, settings["pool"], settings["test"], work / "sets")
    pool_paths, pool_labels = sets.read_labels(composed.train)
    test_paths, test_labels = sets.read_labels(composed.test)
    names = composed.labels
    targets = torch.tensor([[float(name in found) for name in names]
                            for found in (*pool_labels, *test_labels)])
    frozen = pretrained_frozen(TrainConfig.quick().backbone)
    features = embed_dataset([*pool_paths, *test_paths], frozen, default_store()).float()
    pool = list(range(len(pool_paths)))
    test = list(range(len(pool_paths), len(pool_paths) + len(test_paths)))
    ceiling = mean_average_precision(fit_head(features[pool], targets[pool]), features[test],
                                     targets[test])
    start = sorted(random.Random(f"ml-start/{kind}/{seed}").sample(pool, settings["start"]))
    result: dict[str, Any] = {"set": kind, "seed": seed, "pool": len(pool), "test": len(test),
                              "all_labels_map": ceiling, "strategies": {}}
    for name, pick in pickers(features, len(names), batch, seed).items():
        curve = simulate((features, targets), pool, test, start, pick, 0.99 * ceiling)
        result["strategies"][name] = {
            "to_95": labels_to_reach(curve, 0.95 * ceiling),
            "to_99": labels_to_reach(curve, 0.99 * ceiling),
            "early_mean": early_mean(curve), "curve": curve}
        _common.progress(f"  {kind}/{seed} {name}: 95 % at "
                         f"{result['strategies'][name]['to_95']} labels, 99 % at "
                         f"{result['strategies'][name]['to_99']}")
    return result


def summary(results: list[dict[str, Any]], kind: str) -> tuple[list[list[Any]], bool]:
    """One composition's rows (mean over its seeds) and whether ours beat random and
    listing to 95 %."""
    mine = [r for r in results if r["set"] == kind]
    rows = []
    for name in STRATEGIES:
        per = [r["strategies"][name] for r in mine]
        rows.append([kind, name, statistics.fmean(p["to_95"] for p in per),
                     statistics.fmean(p["to_99"] for p in per),
                     statistics.fmean(p["early_mean"] for p in per),
                     " / ".join(f"{p['to_95']}, {p['to_99']}" for p in per)])
    ours = rows[0][2]
    passed = all(ours < row[2] for row in rows if row[1] in ("random", "listing"))
    for row in rows:
        row.insert(3, ours / row[2])
    return rows, passed


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--sets", help="compositions, comma-separated (default: all)")
    parser.add_argument("--seeds", help="comma-separated (default 0,1,2; 0 with --quick)")
    parser.add_argument("--batch", type=int, default=10, help="labels per batch (default 10)")
    args = parser.parse_args()
    settings = dict(QUICK_SETTINGS if args.quick else FULL_SETTINGS)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else settings["seeds"]
    kinds = args.sets.split(",") if args.sets else settings["sets"]
    data = _common.require_data(args.data)
    work = _common.workspace("multilabel-labelling-order")
    results = [run_set(data, kind, seed, settings, args.batch, work)
               for kind in kinds for seed in seeds]
    rows, verdicts = [], {}
    for kind in kinds:
        kind_rows, verdicts[kind] = summary(results, kind)
        rows += kind_rows
    text = _common.table(["set", "order", "labels to 95 % (mean)", "ours ÷ this",
                          "labels to 99 % (mean)", f"mean mAP ≤ {EARLY_LABELS} labels",
                          "to 95 %, 99 % per seed"], rows)
    ceilings = ", ".join(
        f"{kind} " + " / ".join(f"{r['all_labels_map']:.3f}" for r in results
                                if r["set"] == kind) for kind in kinds)
    text += (f"\nPool {settings['pool']} images, test {settings['test']}, start "
             f"{settings['start']}, batches of {args.batch}, seeds {seeds}; all-labels test "
             f"mAP {ceilings}. Target: ours needs fewer labels than random and listing to "
             "reach 95 %: " + ", ".join(f"{kind} {_common.verdict(ok)}"
                                        for kind, ok in verdicts.items()))
    _common.report(args, "Multi-label labelling order: labels to reach the all-labels mAP",
                   text, {"results": results, "pass": verdicts})


if __name__ == "__main__":
    main()
