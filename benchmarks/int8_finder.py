"""The likely-mislabelled finder and "none of these" with float vs 8-bit features (issue 26).

The finder set (a temporary folder): every shared photo plus `--copies` (default 4) seeded
pictures of it in the same class folder (a crop of 70-100 % of the area, a horizontal flip
half of the time, brightness and contrast ±10 %, colour saturation ±20 %, JPEG quality
85-95): 1,500 photos. The photos that do not belong (`cheetah_lion_verdicts.json`: leopards,
a tiger, meerkats, a house cat, a jaguar, pumas, a statue) do not, with their copies. Then
label errors are planted: `--planted` (default 30) photos that belong moved into the other
class folder, half of them single copies (their siblings stay in the right folder) and
half whole groups (a photo and all its copies moved, so no sibling gives it away).

`find_suspects` (the Data page's finder) runs cold on the one scanned dataset, once with
`CHEETAHLION_PRECISION=float` and once with `int8`, each in a fresh home (an empty feature
store; the graphs prepared before any clock), the order alternating over `--rounds`.
Reported: the finder's seconds, how many of float's top 30 are in int8's top 30, the
planted errors and all known wrong photos among each side's top 30, and the flagged photos.

"None of these": a quick model trained (per precision, fresh home) on 70 % of the photos that
belong (originals only), then the `Predictor` of the same precision classifies the other
30 % (known classes) and the photos of kinds not trained (the verdicts' photos and their
copies): the share marked unfamiliar at the default percentile, for leopards and for the
other kinds apart; and the float-trained model classifying with 8-bit features (mixed).

`--quick`: 1 copy, 6 planted, one round (numbers meaningless).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import _common
import numpy as np
from int8_variants import VARIANTS, quantize_variant
from PIL import Image, ImageEnhance

from training.core.runtime import PRECISION_ENV
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.insight.suspects import find_suspects
from training.models import int8_features
from training.models.frozen import pretrained_frozen
from training.models.onnx_features import graph_path
from training.predict.inference import Predictor
from training.records.config import TrainConfig

TOP = 30
SIDES = ("float", "int8")
KNOWN = "known classes (held out)"
VERDICTS = Path(__file__).with_name("cheetah_lion_verdicts.json")


def augment(source: Path, target: Path, seed: str) -> None:
    """One seeded picture of `source` (see the module docstring)."""
    rng = random.Random(seed)
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    side = rng.uniform(0.70, 1.0) ** 0.5
    w, h = max(1, round(image.width * side)), max(1, round(image.height * side))
    left, top = rng.randint(0, image.width - w), rng.randint(0, image.height - h)
    picture = image.crop((left, top, left + w, top + h))
    if rng.random() < 0.5:
        picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhancer, change in ((ImageEnhance.Brightness, 0.10), (ImageEnhance.Contrast, 0.10),
                             (ImageEnhance.Color, 0.20)):
        picture = enhancer(picture).enhance(1.0 + rng.uniform(-change, change))
    picture.save(target, "JPEG", quality=rng.randint(85, 95))


def build_set(data: Path, copies: int, planted: int, root: Path
              ) -> tuple[Path, dict[str, str], set[str]]:
    """(folder, {relpath: what it is} for every photo that does not belong, planted relpaths)."""
    verdicts = json.loads(VERDICTS.read_text())["not_belonging"]
    classes = _common.class_photos(data)
    names = sorted(classes)
    draw = random.Random(26)
    groups: dict[str, list[tuple[Path, str]]] = {}  # source relpath -> (file, seed or "")
    for name in names:
        (root / name).mkdir(parents=True)
        for photo in classes[name]:
            relpath = f"{name}/{photo.name}"
            groups[relpath] = [(photo, "")] + [(photo, f"26/{relpath}/{n}")
                                               for n in range(copies)]
    belonging = {name: [r for r in groups if r.startswith(f"{name}/") and r not in verdicts]
                 for name in names}
    half = planted // 2
    whole = max(1, (planted - half) // (copies + 1))
    moved: dict[tuple[str, int], str] = {}  # (source relpath, copy number) -> other class
    for index, name in enumerate(names):
        other = names[(index + 1) % len(names)]
        chosen = draw.sample(belonging[name], half // len(names) + whole // len(names) + 1)
        singles, wholes = chosen[:half // len(names)], chosen[half // len(names):][
            :max(1, whole // len(names))]
        moved |= {(r, draw.randint(1, copies)): other for r in singles}
        moved |= {(r, n): other for r in wholes for n in range(copies + 1)}
    wrong: dict[str, str] = {}
    planted_paths: set[str] = set()
    for relpath, members in groups.items():
        name, stem = relpath.split("/")[0], Path(relpath).stem
        for number, (photo, seed) in enumerate(members):
            folder = moved.get((relpath, number), name)
            target = f"{folder}/{name}-{stem}-{number}.jpg"  # the source class: no clashes
            if seed:
                augment(photo, root / target, seed)
            else:
                shutil.copyfile(photo, root / target)
            if relpath in verdicts:
                wrong[target] = verdicts[relpath]
            elif folder != name:
                wrong[target] = f"{name} (planted in {folder})"
                planted_paths.add(target)
    return root, wrong, planted_paths


def prepare_graphs(root: Path, graphs: Path) -> None:
    """The float graph exported and the 8-bit one quantized and checked, before any clock."""
    _common.fresh_home(root, "graphs-once", graphs)
    for side in SIDES:
        os.environ[PRECISION_ENV] = side
        pretrained_frozen().prepare(10_000)


def run_finder(folder: Path, root: Path, graphs: Path, rounds: int) -> dict[str, Any]:
    """Each side's report (the last round's) and seconds per round, sides alternating."""
    dataset = scan_dataset(folder)
    found: dict[str, Any] = {side: {"seconds": [], "finder_seconds": []} for side in SIDES}
    for number in range(rounds):
        for side in SIDES if number % 2 == 0 else SIDES[::-1]:
            _common.fresh_home(root, f"finder-{side}-{number}", graphs)
            os.environ[PRECISION_ENV] = side
            started = time.perf_counter()
            report = find_suspects(dataset)
            found[side]["seconds"].append(time.perf_counter() - started)
            found[side]["finder_seconds"].append(report.seconds)
            order = [s.relpath for s in report.suspects]
            if "order" in found[side] and found[side]["order"][:TOP] != order[:TOP]:
                found[side]["top_changed_between_rounds"] = True
            found[side]["order"] = order
            found[side]["flagged"] = {s.relpath for s in report.flagged}
            _common.progress(f"finder round {number + 1} {side}: "
                             f"{found[side]['seconds'][-1]:.1f} s")
    return found


def finder_rows(found: dict[str, Any], wrong: dict[str, str], planted: set[str]
                ) -> tuple[list[list[Any]], dict[str, Any]]:
    tops = {side: found[side]["order"][:TOP] for side in SIDES}
    rows, summary = [], {}
    for side in SIDES:
        top = tops[side]
        flagged = found[side]["flagged"]
        summary[side] = {
            "seconds_median": _common.median(found[side]["seconds"]),
            "planted_in_top": sum(r in planted for r in top),
            "known_wrong_in_top": sum(r in wrong for r in top),
            "planted_flagged": sum(r in planted for r in flagged),
            "flagged": len(flagged), "flagged_wrong": sum(r in wrong for r in flagged),
            "top": top}
        s = summary[side]
        rows.append([side, round(s["seconds_median"], 1), f"{s['planted_in_top']}/{TOP}",
                     f"{s['known_wrong_in_top']}/{TOP}",
                     f"{s['planted_flagged']}/{len(planted)}",
                     f"{s['flagged']} ({s['flagged_wrong']} wrong)"])
    summary["top_overlap"] = len(set(tops["float"]) & set(tops["int8"]))
    summary["flagged_overlap"] = len(found["float"]["flagged"] & found["int8"]["flagged"])
    summary["flagged_union"] = len(found["float"]["flagged"] | found["int8"]["flagged"])
    return rows, summary


def novelty_folders(data: Path, root: Path) -> tuple[Path, dict[str, list[Path]]]:
    """(training folder: 70 % of the photos that belong, originals; {group: test photos})."""
    verdicts = json.loads(VERDICTS.read_text())["not_belonging"]
    draw = random.Random(7)
    tests: dict[str, list[Path]] = {KNOWN: [], "leopards": [],
                                    "other kinds": []}
    for name, photos in _common.class_photos(data).items():
        keep = [p for p in photos if f"{name}/{p.name}" not in verdicts]
        draw.shuffle(keep)
        cut = int(len(keep) * 0.7)
        (root / "train" / name).mkdir(parents=True)
        for photo in keep[:cut]:
            shutil.copyfile(photo, root / "train" / name / photo.name)
        tests[KNOWN] += keep[cut:]
    return root / "train", tests


def unfamiliar_shares(predictor: Predictor, tests: dict[str, list[Path]]) -> dict[str, float]:
    """Each group's share marked unfamiliar, and for each unknown group the AUROC of the
    novelty score against the known photos ("AUROC <group>": the chance that one of its
    photos scores stranger than a known one; free of the threshold's noise)."""
    scores: dict[str, list[float]] = {}
    shares: dict[str, float] = {}
    for group, paths in tests.items():
        found = list(predictor.predict(paths))
        shares[group] = sum(p.unfamiliar for p in found) / len(paths)
        scores[group] = [p.novelty for p in found]
        assert None not in scores[group], "a model without novelty scores"
    for group in tests:
        if group != KNOWN:
            shares[f"AUROC {group}"] = _auroc(scores[group], scores[KNOWN])
    shares[SCORES] = scores  # type: ignore[assignment]  # for `auroc_intervals`
    return shares


SCORES = "_scores"
BOOTSTRAP = 2000


def auroc_intervals(runs: dict[str, list[dict[str, Any]]], tests: dict[str, list[Path]]
                    ) -> list[list[Any]]:
    """Each side's AUROC minus float's, mean over seeds, with a 95 % interval from a paired
    bootstrap over the test photos (a photo and its copies drawn together: the copies are
    not independent), the same draws for every seed and side."""
    rng = np.random.default_rng(26)
    rows = []
    for group in (g for g in tests if g != KNOWN):
        owners = [f"{p.parent.name}/{p.stem.rsplit('-', 1)[0]}" for p in tests[group]]
        names = sorted(set(owners))
        members = np.array([[owner == name for name in names] for owner in owners], float)
        known = len(tests[KNOWN])
        draws = [(members @ rng.multinomial(len(names), [1 / len(names)] * len(names)),
                  rng.multinomial(known, [1 / known] * known)) for _ in range(BOOTSTRAP)]
        reference = _pair_matrices(runs["float"], group)
        for side, seeds in runs.items():
            if side == "float":
                continue
            differences = [m - r for m, r in zip(_pair_matrices(seeds, group), reference,
                                                 strict=True)]
            point = np.mean([d.mean() for d in differences])
            spread = [np.mean([a @ d @ b / (a.sum() * b.sum()) for d in differences])
                      for a, b in draws]
            low, high = np.percentile(spread, [2.5, 97.5])
            rows.append([group, side, f"{point:+.3f}", f"[{low:+.3f}, {high:+.3f}]"])
    return rows


def _pair_matrices(seeds: list[dict[str, Any]], group: str) -> list[np.ndarray]:
    """Per seed: 1 where a `group` photo scores stranger than a known one, 0.5 for ties."""
    found = []
    for run in seeds:
        unknown = np.array(run[SCORES][group])[:, None]
        known = np.array(run[SCORES][KNOWN])[None, :]
        found.append((unknown > known) + 0.5 * (unknown == known))
    return found


def _auroc(positive: list[float], negative: list[float]) -> float:
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / max(1, len(positive) * len(negative))


def none_of_these(data: Path, finder_folder: Path, wrong: dict[str, str], planted: set[str],
                  root: Path, graphs: Path, seeds: int, seven_bit: bool,
                  variants: list[str]) -> list[list[Any]]:
    """Unfamiliar shares per group, means over `seeds` quick models per side: float, int8,
    the float model classifying on 8-bit features (asked for, as --feature-precision int8
    asks: a model otherwise follows the precision it was trained on), and with `seven_bit`
    int8 with 7-bit weights (`reduce_range`, what CPUs without VNNI get) beside this
    machine's graph, and `variants` of `int8_variants.VARIANTS` planted as the engine's
    8-bit graph (under a settings tag of their own)."""
    train, tests = novelty_folders(data, root / "novelty")
    for relpath, what in wrong.items():
        if relpath not in planted:
            tests["leopards" if what.startswith("leopard") else "other kinds"].append(
                finder_folder / relpath)
    sides: list[tuple[str, str, bool | str | None]] = [(side, side, None) for side in SIDES]
    if seven_bit:
        sides.append((SEVEN_BIT, "int8", False))
    sides += [(variant, "int8", variant) for variant in variants]
    runs: dict[str, list[dict[str, float]]] = {}
    for seed in range(seeds):
        models = {}
        for name, precision, vnni in sides:
            _common.fresh_home(root, f"novelty-{name}-{seed}", graphs)
            if isinstance(vnni, str):
                _plant_variant(vnni)
            else:
                _weights_range(vnni)
            os.environ[PRECISION_ENV] = precision
            result = fit(TrainConfig.quick(seed=seed), scan_dataset(train),
                         output=root / f"{precision}-{seed}-{vnni}.safetensors")
            assert result.model is not None, result.stopped
            models[name] = result.model
            runs.setdefault(name, []).append(
                unfamiliar_shares(Predictor.from_model(result.model), tests))
            _common.progress(f"none of these, {name}, seed {seed}: {runs[name][-1]}")
        _weights_range(None)
        mixed = Predictor.from_model(models["float"], feature_precision="int8")
        runs.setdefault(MIXED, []).append(unfamiliar_shares(mixed, tests))
        assert mixed.frozen.precision == "int8", mixed.frozen.refusal
        _common.progress(f"none of these, {MIXED}, seed {seed}: {runs[MIXED][-1]}")
    groups = [*tests, *(f"AUROC {group}" for group in tests if group != KNOWN)]
    intervals = auroc_intervals(runs, tests)
    _common.progress("AUROC minus float's, 95 % paired bootstrap interval:\n"
                     + _common.table(("photos", "side", "difference", "interval"), intervals))
    return [[group, len(tests.get(group.removeprefix("AUROC "), []))]
            + [f"{statistics.mean(run[group] for run in runs[kind]):.3f} "
               f"({', '.join(f'{run[group]:.2f}' for run in runs[kind])})" for kind in runs]
            for group in groups]


def _weights_range(vnni: bool | None) -> None:
    """Make the engine's 8-bit graph as on a CPU with (True) or without (False) VNNI, or as
    this machine's (None): another settings tag, so another graph file and store space."""
    int8_features.quantization = _QUANTIZATION
    int8_features.has_vnni = _HAS_VNNI if vnni is None else (lambda: vnni)
    int8_features.quantization.cache_clear()


def _plant_variant(name: str) -> None:
    """The engine's 8-bit graph replaced by `int8_variants.VARIANTS[name]`, under its own
    settings tag (so its own file and store space), quantized once."""
    _weights_range(None)
    settings = {**_QUANTIZATION(), "variant": name}
    int8_features.quantization = lambda: settings
    frozen = pretrained_frozen()
    float_path = graph_path(frozen.digest, frozen.prep)
    maker = "onnx:" + hashlib.blake2b(float_path.read_bytes(), digest_size=16).hexdigest()
    target = int8_features.int8_path(float_path, maker)
    if not target.is_file():
        quantize_variant(float_path, target, frozen.prep, VARIANTS[name])


SEVEN_BIT = "int8, 7-bit weights"
_HAS_VNNI = int8_features.has_vnni
_QUANTIZATION = int8_features.quantization
MIXED = "float model, int8 features"


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--planted", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--novelty-seeds", type=int, default=3,
                        help="quick models per side for the 'none of these' shares")
    parser.add_argument("--novelty-7bit", action="store_true",
                        help="add a side with 7-bit weights (as on CPUs without VNNI)")
    parser.add_argument("--novelty-only", action="store_true", help="skip the finder")
    parser.add_argument("--novelty-variants", default="",
                        help="';'-separated int8_variants.VARIANTS to add as sides")
    args = parser.parse_args()
    if args.quick:
        args.copies, args.planted, args.rounds, args.novelty_seeds = 1, 6, 1, 1
    root = _common.workspace("int8-finder")
    graphs = root / "graphs"
    data = _common.require_data(args.data)
    _common.progress("building the finder set")
    folder, wrong, planted = build_set(data, args.copies, args.planted, root / "finder-set")
    photos = sum(1 for _ in folder.rglob("*.jpg"))
    expected = sum(len(v) for v in _common.class_photos(data).values()) * (args.copies + 1)
    assert photos == expected, f"{photos} files written, {expected} planned"
    prepare_graphs(root, graphs)
    results: dict[str, Any] = {"photos": photos, "wrong": len(wrong), "planted": sorted(planted)}
    text = (f"{photos} photos ({args.copies} copies of each shared photo), {len(wrong)} that do "
            f"not belong, {len(planted)} of them planted\n")
    if not args.novelty_only:
        text += finder_text(run_finder(folder, root, graphs, args.rounds), wrong, planted,
                            args.rounds, results)
    variants = [name.strip() for name in args.novelty_variants.split(";") if name.strip()]
    novelty = none_of_these(data, folder, wrong, planted, root, graphs, args.novelty_seeds,
                            args.novelty_7bit, variants)
    sides = [*SIDES, *([SEVEN_BIT] if args.novelty_7bit else []), *variants, MIXED]
    text += (f"\n'None of these' (unfamiliar at the default percentile) shares, mean of "
             f"{args.novelty_seeds} quick models (each seed's):\n"
             + _common.table(("photos", "n", *sides), novelty))
    results["none_of_these"] = {"sides": sides, "rows": novelty}
    _common.report(args, "Finder and 'none of these', float vs 8-bit features (issue 26)", text,
                   results)


def finder_text(found: dict[str, Any], wrong: dict[str, str], planted: set[str], rounds: int,
                results: dict[str, Any]) -> str:
    """The finder's table and overlaps; its summary added to `results`."""
    rows, summary = finder_rows(found, wrong, planted)
    for side in SIDES:
        summary[side]["top_changed_between_rounds"] = found[side].get(
            "top_changed_between_rounds", False)
    results["finder"] = summary
    return (f"{rounds} rounds\n"
            + _common.table(("features", "finder s (median)", f"planted in top {TOP}",
                             f"known wrong in top {TOP}", "planted flagged", "flagged"), rows)
            + f"\nfloat's top {TOP} in int8's top {TOP}: {summary['top_overlap']}/{TOP}; "
            f"flagged by both: {summary['flagged_overlap']} of {summary['flagged_union']} "
            f"flagged by either; int8 / float seconds: "
            f"{summary['int8']['seconds_median'] / summary['float']['seconds_median']:.2f}\n")


if __name__ == "__main__":
    main()
