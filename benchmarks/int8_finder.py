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

import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import _common
from PIL import Image, ImageEnhance

from training.core.runtime import PRECISION_ENV
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.insight.suspects import find_suspects
from training.models.frozen import pretrained_frozen
from training.predict.inference import Predictor
from training.records.config import TrainConfig

TOP = 30
SIDES = ("float", "int8")
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
    tests: dict[str, list[Path]] = {"known classes (held out)": [], "leopards": [],
                                    "other kinds": []}
    for name, photos in _common.class_photos(data).items():
        keep = [p for p in photos if f"{name}/{p.name}" not in verdicts]
        draw.shuffle(keep)
        cut = int(len(keep) * 0.7)
        (root / "train" / name).mkdir(parents=True)
        for photo in keep[:cut]:
            shutil.copyfile(photo, root / "train" / name / photo.name)
        tests["known classes (held out)"] += keep[cut:]
    return root / "train", tests


def unfamiliar_shares(predictor: Predictor, tests: dict[str, list[Path]]) -> dict[str, float]:
    return {group: sum(p.unfamiliar for p in predictor.predict(paths)) / len(paths)
            for group, paths in tests.items() if paths}


def none_of_these(data: Path, finder_folder: Path, wrong: dict[str, str], planted: set[str],
                  root: Path, graphs: Path) -> list[list[Any]]:
    """Unfamiliar shares per group: float, int8, and a float model on 8-bit features."""
    train, tests = novelty_folders(data, root / "novelty")
    for relpath, what in wrong.items():
        if relpath not in planted:
            tests["leopards" if what.startswith("leopard") else "other kinds"].append(
                finder_folder / relpath)
    models = {}
    shares: dict[str, dict[str, float]] = {}
    for side in SIDES:
        _common.fresh_home(root, f"novelty-{side}", graphs)
        os.environ[PRECISION_ENV] = side
        result = fit(TrainConfig.quick(), scan_dataset(train), output=root / f"{side}.safetensors")
        assert result.model is not None, result.stopped
        models[side] = result.model
        shares[side] = unfamiliar_shares(Predictor.from_model(result.model), tests)
        _common.progress(f"none of these, {side}: {shares[side]}")
    os.environ[PRECISION_ENV] = "int8"
    shares["float model, int8 features"] = unfamiliar_shares(Predictor.from_model(models["float"]),
                                                            tests)
    return [[group, len(tests[group])] + [f"{shares[kind][group]:.3f}" for kind in shares]
            for group in tests]


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--planted", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.copies, args.planted, args.rounds = 1, 6, 1
    root = _common.workspace("int8-finder")
    graphs = root / "graphs"
    data = _common.require_data(args.data)
    _common.progress("building the finder set")
    folder, wrong, planted = build_set(data, args.copies, args.planted, root / "finder-set")
    photos = sum(1 for _ in folder.rglob("*.jpg"))
    expected = sum(len(v) for v in _common.class_photos(data).values()) * (args.copies + 1)
    assert photos == expected, f"{photos} files written, {expected} planned"
    prepare_graphs(root, graphs)
    found = run_finder(folder, root, graphs, args.rounds)
    rows, summary = finder_rows(found, wrong, planted)
    novelty = none_of_these(data, folder, wrong, planted, root, graphs)
    text = (f"{photos} photos ({args.copies} copies of each shared photo), {len(wrong)} that do "
            f"not belong, {len(planted)} of them planted; {args.rounds} rounds\n"
            + _common.table(("features", "finder s (median)", f"planted in top {TOP}",
                             f"known wrong in top {TOP}", "planted flagged", "flagged"), rows)
            + f"\nfloat's top {TOP} in int8's top {TOP}: {summary['top_overlap']}/{TOP}; "
            f"flagged by both: {summary['flagged_overlap']} of {summary['flagged_union']} "
            f"flagged by either; int8 / float seconds: "
            f"{summary['int8']['seconds_median'] / summary['float']['seconds_median']:.2f}\n\n"
            "'None of these' (unfamiliar at the default percentile) shares:\n"
            + _common.table(("photos", "n", "float", "int8", "float model, int8 features"),
                            novelty))
    for side in SIDES:
        summary[side]["top_changed_between_rounds"] = found[side].get(
            "top_changed_between_rounds", False)
    _common.report(args, "Finder and 'none of these', float vs 8-bit features (issue 26)", text,
                   {"photos": photos, "wrong": len(wrong), "planted": sorted(planted),
                    "finder": summary, "none_of_these": novelty})


if __name__ == "__main__":
    main()
