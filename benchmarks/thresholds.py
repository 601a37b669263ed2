"""Per-class thresholds (issue 24): do operating points chosen on validation hold on test,
and how many photos do they leave unsure?

For each target precision (`--targets`, default 0.95 and 0.99) each class's threshold is
chosen on validation the way a user does it on Evaluate's "Per-class thresholds" tab: the
slider's positions (0.1 % steps, `cheetahlion_gui.evaluate.thresholds.STEPS`) from the left,
stopping at the first whose precision (`training.records.operating_points`, the code that
tab shows) reaches the target; none when the class already does without one. A class whose
precision never reaches it ends where it is given no photo (never wrong, never right). The
thresholds are then written into the model file (`save_thresholds`, as Save does) and the
held-out test photos are classified by the `Predictor` Classify and the CLI use; the
benchmark checks that its unsure photos are exactly the ones `operating_points` counts.

Sets (quick mode, `TrainConfig.quick(seed=seed)`):
- shared: the shared photos (cheetah and lion, stray animals and all), split 40/30/30 by
  the engine's seeded split (`val_fraction` 0.3, `test_fraction` 0.3); seeds `--seeds`;
- grey: the shared photos made hard (`_subsets.few_shot_folder`: 20 training and 30
  validation photos per class, the rest held out as test, every one a grey 40 px thumbnail,
  as `quick_defaults.py` makes them), where the model does make mistakes; seeds `--seeds`;
- rare: `_rare_sets.photo_set` (cheetah and lion common, leopard 10 times rarer, neutral
  names; its own val/ and test/ folders: 2 leopards to choose on, 10-17 to test on).

Figures per part (val: where the thresholds were chosen; test: held out), over every scored
photo: precision of the photos given a class (all given together, and the lowest class's),
the share of classes at or above the target, the mean per-class recall, and the shares of
photos given a class, left unsure, and flagged "none of these" (decided before any
threshold, the same with and without). Run: `.venv/bin/python benchmarks/thresholds.py`.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import _common
import _rare_sets
import _subsets
from PIL import Image, ImageOps

STEPS = 1000
"""The Evaluate slider's positions (`cheetahlion_gui.evaluate.thresholds.STEPS`; not
imported, so the benchmark runs without Qt)."""
SIDES = ("no thresholds", "0.95", "0.99")


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--rare-seeds", default="0,1,2")
    parser.add_argument("--targets", default="0.95,0.99")
    args = parser.parse_args()
    data = _common.require_data(args.data)
    work = _common.workspace("thresholds")
    targets = [float(t) for t in args.targets.split(",")]
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    rare_seeds = [] if args.quick else [int(s) for s in args.rare_seeds.split(",")]
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        _common.progress(f"shared photos, seed {seed}")
        rows.extend(_measure("shared", data, seed, targets))
    for seed in seeds:
        _common.progress(f"grey 40 px, seed {seed}")
        folder = _subsets.few_shot_folder(data, 20, 30, seed, work / "sets" / f"grey-{seed}",
                                          _thumbnail)
        rows.extend(_measure("grey 40 px", folder, seed, targets))
    for seed in rare_seeds:
        _common.progress(f"rare leopard 1:10, seed {seed}")
        chosen = _rare_sets.photo_set(data, work / "sets" / f"rare-{seed}", 10, True, seed)
        rows.extend(_measure("rare 1:10", chosen.root, seed, targets))
    _common.report(args, "Per-class thresholds (issue 24)", _tables(rows, targets),
                   {"rows": rows})
    return 0


def _thumbnail(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).resize((40, 40)).convert("RGB")


def _measure(kind: str, root: Path, seed: int, targets: list[float]) -> list[dict[str, Any]]:
    """One fit; per target, the thresholds chosen on val and the figures on val and test."""
    from training.data.scanning import scan_dataset
    from training.fitting.model_thresholds import save_thresholds
    from training.fitting.trainer import fit
    from training.predict.evaluation import evaluate
    from training.records.config import TrainConfig
    from training.records.operating_points import ValidationOutcomes, no_thresholds

    dataset = scan_dataset(root)
    config = TrainConfig.quick(seed=seed, val_fraction=0.3, test_fraction=0.3)
    result = fit(config, dataset)
    assert result.model is not None and result.model_path is not None
    reports = {part: evaluate(result.model, dataset, part) for part in ("val", "test")}
    outcomes = {part: ValidationOutcomes.of_report(report) for part, report in reports.items()}
    test_paths = [outcome.path for outcome in reports["test"].outcomes]
    rows = []
    for target in [None, *targets]:
        chosen = (no_thresholds(dataset.classes) if target is None else
                  tuple(choose(outcomes["val"], c, target)
                        for c in range(len(dataset.classes))))
        save_thresholds(result.model_path, chosen)
        agrees = _predictor_agrees(result.model_path, test_paths, outcomes["test"], chosen)
        for part, of_part in outcomes.items():
            rows.append({"kind": kind, "seed": seed, "target": target, "part": part,
                         "thresholds": dict(zip(dataset.classes, chosen, strict=True)),
                         "predictor_agrees": agrees, **_figures(of_part, chosen, target)})
    return rows


def choose(outcomes: Any, class_index: int, target: float) -> float | None:
    """The lowest slider position at which the class's validation precision reaches
    `target` (None: it does without a threshold); where it never does, the lowest at which
    the class is given no photo."""
    if _reaches(outcomes.point(class_index, None), target):
        return None
    for step in range(1, STEPS + 1):
        if _reaches(outcomes.point(class_index, step / STEPS), target):
            return step / STEPS
    return 1.0


def _reaches(point: Any, target: float) -> bool:
    return point.given == 0 or point.precision >= target


def _figures(outcomes: Any, thresholds: tuple[float | None, ...], target: float | None
             ) -> dict[str, Any]:
    """Precision, recall and coverage of `outcomes` at `thresholds`."""
    points = outcomes.points(thresholds)
    scored = len(outcomes.true)
    given = sum(p.given for p in points)
    precisions = [p.precision for p in points if p.precision is not None]
    recalls = [p.recall for p in points if p.recall is not None]
    return {
        "precision": sum(p.correct for p in points) / given if given else None,
        "lowest_precision": min(precisions) if precisions else None,
        "classes_at_target": (None if target is None else
                              sum(p.precision is None or p.precision >= target for p in points)
                              / len(points)),
        "recall": statistics.mean(recalls),
        "given": given / scored, "unsure": sum(p.unsure for p in points) / scored,
        "none_of_these": float(outcomes.unfamiliar.mean()),
        "wrong": sum(p.given - p.correct for p in points), "photos": scored,
    }


def _predictor_agrees(model_path: Path, paths: list[str], test: Any,
                      thresholds: tuple[float | None, ...]) -> bool:
    """Whether Classify's predictor, reading the thresholds from the saved model file, leaves
    unsure exactly the test photos `operating_points` counts as unsure."""
    from training.predict.inference import Predictor

    predictor = Predictor.from_file(model_path)
    assert predictor.thresholds == thresholds, (predictor.thresholds, thresholds)
    counted = sum(p.unsure for p in test.points(thresholds))
    unsure = sum(p.below_threshold for p in predictor.predict(paths, 32, None))
    return unsure == counted


def _tables(rows: list[dict[str, Any]], targets: list[float]) -> str:
    """Per set: each side's mean over seeds on test, validation in brackets."""
    lines = []
    keys = ("precision", "lowest_precision", "classes_at_target", "recall", "given",
            "unsure", "none_of_these")
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        seeds = sorted({r["seed"] for r in mine})
        lines.append(f"\n{kind}, seeds {seeds}; test (val), mean of seeds; "
                     f"{mine[0]['photos']}-ish photos per part")
        table_rows = []
        for target in [None, *targets]:
            cells: list[object] = ["none" if target is None else f"precision ≥ {target}"]
            for key in keys:
                cells.append(" ".join(_mean(mine, target, part, key) for part in
                                      ("test", "val")))
            table_rows.append(cells)
        lines.append(_common.table(["thresholds", "precision", "lowest class", "classes ≥ "
                                    "target", "mean recall", "given", "unsure",
                                    "none of these"], table_rows))
        disagree = [r for r in mine if not r["predictor_agrees"]]
        lines.append(f"predictor's unsure = operating_points' unsure on test: "
                     f"{'yes, every fit' if not disagree else f'NO in {len(disagree)} rows'}")
    return "\n".join(lines)


def _mean(rows: list[dict[str, Any]], target: float | None, part: str, key: str) -> str:
    values = [r[key] for r in rows if r["target"] == target and r["part"] == part
              and r[key] is not None]
    text = f"{statistics.mean(values):.3f}" if values else "–"
    return text if part == "test" else f"({text})"


if __name__ == "__main__":
    raise SystemExit(main())
