"""Rare classes (issue 24): a class 10 or 20 times rarer in training, before and after.

Data sets (`_rare_sets.py`): the shared photos (cheetah and lion common, the cheetah folder's
leopards rare), under their real names and under neutral ones, and three Gaussian classes
in feature space whose answer is known; 1:10 and 1:20; seeds 0, 1, 2 (`--seeds`). Every
figure is on each set's held-out test/ folder, which nothing trains or chooses on. Sides,
all on the same features and split:

- before: the quick head as `fit` trained it, without the adjustment (the saved head's
  logits plus τ·log(prior) / T again, T being the calibration folded in after it: the head
  training left, up to the scale 1/T, which argmax ignores);
- after: the saved model, τ chosen on validation (`training.fitting.rare_classes`);
- τ=1 fixed: the head before, adjusted with τ = 1 (the Bayes rule's; log(prior) / T)
  whatever validation says;
- balanced loss: `fit` with each class's loss weighted by 1 / its training images (the
  loop's cross-entropy given `weight`), no adjustment;
- balanced sampling: `fit` drawing each training batch with replacement, each class
  equally likely, no adjustment;
- plain LR: scikit-learn's default `LogisticRegression()` (multinomial, L2, C = 1, to
  convergence with L-BFGS, in torch) on the same stored features; and plain LR + τ = 1.

`--finetune` adds a fine-tune (2 epochs, 128 px) on the neutral photos at 1:10, seed 0,
before and after. One `CHEETAHLION_HOME` for everything: each photo's features are computed
once. Run: `.venv/bin/python benchmarks/rare_classes.py` (a few minutes on 2 CPUs).
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import types
from collections.abc import Iterator
from typing import Any

import _common
import _rare_sets
import torch
from _logistic import fit_softmax

SIDES = ("before", "after", "τ=1 fixed", "balanced loss", "balanced sampling", "plain LR",
         "plain LR + τ=1")
C = 1.0


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--finetune", action="store_true", help="add the fine-tune setting")
    args = parser.parse_args()
    data = _common.require_data(args.data)
    work = _common.workspace("rare-classes")
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    ratios = (10,) if args.quick else (10, 20)
    sets = []
    for seed in seeds:
        for ratio in ratios:
            sets.append(("synthetic", ratio, seed))
            if not args.quick:  # --quick: no photo's features to compute
                sets.extend((names, ratio, seed) for names in ("real", "neutral"))
    rows: list[dict[str, Any]] = []
    for kind, ratio, seed in sets:
        target = work / "sets" / f"{kind}-{ratio}-{seed}"
        chosen = (_rare_sets.synthetic_set(target, ratio, seed) if kind == "synthetic" else
                  _rare_sets.photo_set(data, target, ratio, kind == "neutral", seed))
        _common.progress(f"{kind} 1:{ratio} seed {seed}")
        rows.extend(_measure(chosen, "quick", args.quick))
    if args.finetune:
        chosen = _rare_sets.photo_set(data, work / "sets" / "finetune", 10, True, 0)
        _common.progress("fine-tune: neutral 1:10 seed 0")
        rows.extend(_measure(chosen, "finetune", args.quick))
    _common.report(args, "Rare classes (issue 24)", _tables(rows), {"rows": rows})
    return 0


def _measure(chosen: _rare_sets.RareSet, mode: str, quick: bool) -> list[dict[str, Any]]:
    """Every side's test figures on one set."""
    from training.data.scanning import scan_dataset
    from training.fitting.rare_classes import log_priors
    from training.fitting.trainer import fit
    from training.records.config import TrainConfig

    dataset = scan_dataset(chosen.root)
    split_parts = {part: [i for i, r in enumerate(dataset.images) if r.own_split == part]
                   for part in ("train", "val", "test")}
    labels = {part: torch.tensor([dataset.images[i].label for i in indices])
              for part, indices in split_parts.items()}
    rare = dataset.classes.index(chosen.rare)
    config = (TrainConfig.finetune(epochs=1 if quick else 2, image_size=128, seed=chosen.seed)
              if mode == "finetune" else TrainConfig.quick(seed=chosen.seed))
    log_prior = log_priors(labels["train"], len(dataset.classes))
    result = fit(config, dataset)
    after, tau = _test_logits(result, dataset, split_parts["test"]), result.balance
    assert tau is not None
    scale = 1.0 / temperature(result.model)
    before = after + tau.logit_adjustment * log_prior * scale
    logits = {"before": before, "after": after, "τ=1 fixed": before - log_prior * scale}
    if mode == "quick":
        with _no_adjustment(), _balanced_loss(labels["train"], len(dataset.classes)):
            logits["balanced loss"] = _test_logits(fit(config, dataset), dataset,
                                                   split_parts["test"])
        with _no_adjustment(), _balanced_sampling(labels["train"]):
            logits["balanced sampling"] = _test_logits(fit(config, dataset), dataset,
                                                       split_parts["test"])
        features = {part: _stored_features(dataset, split_parts[part]) for part in ("train",
                                                                                     "test")}
        plain = _fit_logistic(features["train"], labels["train"], len(dataset.classes))
        logits["plain LR"] = plain(features["test"])
        logits["plain LR + τ=1"] = logits["plain LR"] - log_prior
    return [{"kind": chosen.kind, "names": chosen.names, "ratio": chosen.ratio,
             "seed": chosen.seed, "mode": mode, "side": side, "tau": tau.logit_adjustment,
             **_scores(values, labels["test"], rare)} for side, values in logits.items()]


def _scores(logits: torch.Tensor, labels: torch.Tensor, rare: int) -> dict[str, float]:
    from training.fitting.rare_classes import class_recalls

    predicted = logits.argmax(1)
    recalls = class_recalls(predicted, labels, logits.shape[1])
    common = [r for c, r in enumerate(recalls) if c != rare and r is not None]
    return {"balanced_accuracy": statistics.mean(r for r in recalls if r is not None),
            "rare_recall": recalls[rare] or 0.0, "common_recall": statistics.mean(common),
            "accuracy": float((predicted == labels).float().mean())}


def _test_logits(result: Any, dataset: Any, indices: list[int]) -> torch.Tensor:
    """The saved model's logits on the test photos (its own features, through the store)."""
    from training.models.embedding import default_store, embed_dataset
    from training.models.frozen import FrozenFeatures

    network = result.model.network.eval()
    frozen = FrozenFeatures(network, result.model.preprocessing, torch.device("cpu"))
    features = embed_dataset([dataset.images[i].path for i in indices], frozen,
                             default_store())
    with torch.no_grad():
        return network.get_classifier()(features).float()


def temperature(model: Any) -> float:
    """The T whose 1/T calibration folded into the saved classifier after the adjustment
    (1 for a file without calibration): the saved logits are (z - τ·log(prior)) / T, so
    the head training left is T·saved + τ·log(prior), which argmax ranks as saved +
    τ·log(prior) / T."""
    from training.records.calibration import ModelCalibration

    calibration = ModelCalibration.of_header(model.metadata)
    return 1.0 if calibration is None else calibration.temperature


def _stored_features(dataset: Any, indices: list[int]) -> torch.Tensor:
    """The pretrained network's features of the photos at `indices` (stored by the fits)."""
    from training.models.embedding import default_store, embed_dataset

    return embed_dataset([dataset.images[i].path for i in indices], _pretrained(),
                         default_store())


@functools.cache
def _pretrained() -> Any:
    from training.models.frozen import pretrained_frozen

    return pretrained_frozen()


def _fit_logistic(features: torch.Tensor, labels: torch.Tensor, classes: int) -> Any:
    """The plain multinomial logistic regression (`_logistic.fit_softmax`) as logits of
    test features."""
    w, b = fit_softmax(features, labels, classes, C)
    return lambda test: test.float() @ w + b


@contextlib.contextmanager
def _no_adjustment() -> Iterator[None]:
    from training.fitting import rare_classes

    chosen = rare_classes.choose_tau
    rare_classes.choose_tau = lambda *_args: 0.0
    try:
        yield
    finally:
        rare_classes.choose_tau = chosen


@contextlib.contextmanager
def _balanced_loss(train_labels: torch.Tensor, classes: int) -> Iterator[None]:
    """The epoch loop's cross-entropy weighted by 1 / each class's training images."""
    from training.fitting import loop

    counts = torch.bincount(train_labels, minlength=classes).float().clamp(min=1)
    weight = counts.sum() / (classes * counts)
    weighted = types.SimpleNamespace(**vars(torch.nn))
    weighted.CrossEntropyLoss = functools.partial(torch.nn.CrossEntropyLoss, weight=weight)
    original = loop.nn
    loop.nn = weighted
    try:
        yield
    finally:
        loop.nn = original


@contextlib.contextmanager
def _balanced_sampling(train_labels: torch.Tensor) -> Iterator[None]:
    """Training batches drawn with replacement, every class equally likely."""
    from training.fitting.run_context import RunContext

    original = RunContext.shuffled
    counts = torch.bincount(train_labels).float()

    def shuffled(self: Any, inputs: Any, labels: torch.Tensor, generator: Any) -> Any:
        if len(labels) != len(train_labels):
            yield from original(self, inputs, labels, generator)
            return
        chances = (1.0 / counts)[labels.cpu()]
        order = torch.multinomial(chances, len(labels), replacement=True,
                                  generator=generator).to(inputs.device)
        for start in range(0, len(labels), self.config.batch_size):
            chosen = order[start:start + self.config.batch_size]
            yield inputs[chosen], labels[chosen]

    RunContext.shuffled = shuffled  # type: ignore[method-assign]
    try:
        yield
    finally:
        RunContext.shuffled = original  # type: ignore[method-assign]


def _tables(rows: list[dict[str, Any]]) -> str:
    """Means over seeds per setting and side, after ÷ before, and seeds won."""
    settings = sorted({(r["mode"], r["kind"], r["names"], r["ratio"]) for r in rows})
    lines = []
    for setting in settings:
        mine = [r for r in rows if (r["mode"], r["kind"], r["names"], r["ratio"]) == setting]
        mode, kind, names, ratio = setting
        seeds = sorted({r["seed"] for r in mine})
        taus = [r["tau"] for r in mine if r["side"] == "after"]
        lines.append(f"\n{mode} — {kind}, {names} names, 1:{ratio}, seeds {seeds}, "
                     f"τ chosen {taus}")
        table_rows = []
        for side in SIDES:
            of_side = [r for r in mine if r["side"] == side]
            if not of_side:
                continue
            table_rows.append([side] + [statistics.mean(r[key] for r in of_side) for key in
                                        ("balanced_accuracy", "rare_recall", "common_recall",
                                         "accuracy")])
        lines.append(_common.table(["side (test, mean of seeds)", "bal. acc.", "rare recall",
                                    "common recall", "accuracy"], table_rows))
        lines.append(_ratios(mine))
    return "\n".join(lines)


def _ratios(rows: list[dict[str, Any]]) -> str:
    def mean(side: str, key: str) -> float:
        return statistics.mean(r[key] for r in rows if r["side"] == side)

    text = []
    for key in ("balanced_accuracy", "rare_recall"):
        before, after = mean("before", key), mean("after", key)
        ratio = after / before if before else float("inf")
        text.append(f"{key}: after ÷ before {ratio:.2f}")
        if any(r["side"] == "plain LR" for r in rows):
            text.append(f"after ÷ plain LR {after / max(mean('plain LR', key), 1e-9):.2f}")
    by_seed = {r["seed"]: {} for r in rows}
    for r in rows:
        by_seed[r["seed"]][r["side"]] = r["balanced_accuracy"]
    won = sum(seed["after"] >= seed["before"] for seed in by_seed.values())
    text.append(f"after ≥ before in bal. acc. on {won} of {len(by_seed)} seeds")
    return "; ".join(text)


if __name__ == "__main__":
    raise SystemExit(main())
