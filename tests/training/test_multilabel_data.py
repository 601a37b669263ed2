"""Multi-label data (issue 23): labels.csv, the scan of both layouts, its health report and
the split that keeps every label in training and in validation.

Every bad labels.csv must give one line naming the file and the row; images are small
synthetic textures written under tmp_path, and the split is checked on in-memory datasets.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from training.core.errors import DatasetError
from training.data.labels_csv import parse_labels_csv, read_labels_csv
from training.data.multilabel_health import multilabel_report
from training.data.multilabel_scan import cross_folder_copies, scan_multilabel
from training.data.multilabel_split import split_multilabel
from training.data.scanning import scan_dataset
from training.records.dataset import HealthReport
from training.records.events import ScanProgress
from training.records.multilabel import LabelledImage, MultiLabelDataset

CSV = Path("/photos/labels.csv")


def parse(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return parse_labels_csv(text.encode(), CSV).rows


def refused(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(DatasetError) as caught:
        parse_labels_csv(data, CSV)
    message = str(caught.value)
    assert "\n" not in message and str(CSV) in message
    return message


@pytest.mark.parametrize(("text", "row", "says"), [
    ("path,label\na.jpg,x\n", 1, "must name the columns path and labels (found 'path', 'label')"),
    ("path;labels\na.jpg;x\n", 1, "Separate the columns with a comma"),
    ("path,labels,Labels\na.jpg,x,y\n", 1, "the column 'labels' appears twice"),
    ("path,labels\na.jpg,x\nb.jpg,y\n./a.jpg,z\n", 4, "a.jpg is listed again (first in row 2)"),
    ("path,labels\na.jpg,x\n/etc/b.jpg,y\n", 3, "/etc/b.jpg is an absolute path"),
    ("path,labels\nC:\\photos\\b.jpg,y\n", 2, "is an absolute path"),
    ("path,labels\nbeach/../../b.jpg,y\n", 2, "points outside the folder"),
    ("path,labels\n,y\n", 2, "the path is empty"),
    ("path,labels\na.jpg,beach;;sunset\n", 2, "'beach;;sunset' hold an empty label"),
    ("path,labels\na.jpg,beach;\n", 2, "hold an empty label"),
    ("path,labels\na.jpg,cats/dogs\n", 2, "cannot contain /"),
    ("path,labels\na.jpg,.hidden\n", 2, "cannot start with a dot"),
    ("path,labels\na.jpg,train\n", 2, "name of a split folder"),
    ("path,labels\na.jpg,CON\n", 2, "device name on Windows"),
    ("path,labels\na.jpg,li\u202eon\n", 2, "invisible or direction-changing"),
    ("path,labels\na.jpg,Beach\nb.jpg,x\nc.jpg,beach\n", 4, "'Beach' and 'beach' differ only"),
    ("path,labels\na.jpg,x\nb.jpg,beach,sunset\n", 3, "Separate labels with ';', not ','"),
    ("path,labels\na.jpg\n", 2, "end the row with a comma"),
    ('path,labels\na.jpg,x\nb.jpg,"be"ach\n', 3, "is not valid CSV"),
    ('path,labels\n"a\nb.jpg",x\nc.jpg,"x\n', 4, "is not valid CSV"),
])
def test_a_bad_labels_csv_gets_one_line_naming_its_row(text: str, row: int, says: str) -> None:
    message = refused(text)
    assert f"labels.csv, row {row}:" in message
    assert says in message


def test_bytes_that_are_not_utf8_are_named_by_row() -> None:
    message = refused(b"path,labels\na.jpg,x\nb.jpg,caf\xe9\n")
    assert "row 3" in message and "not UTF-8" in message and "CSV UTF-8" in message
    assert "UTF-16" in refused("path,labels\na.jpg,x\n".encode("utf-16"))


def test_an_empty_file_or_one_without_rows_says_what_to_write() -> None:
    assert "is empty" in refused("") and "path,labels" in refused("\n\n")
    assert "lists no photos" in refused("path,labels\n\n,\n")


def test_a_byte_order_mark_quoted_separators_and_spaces_are_read_as_meant() -> None:
    text = ('\ufeffPath , Labels,width\n'
            '"beach, 2019/1.jpg"," sunset ; people;sunset",640\n'
            'x\\2.jpg,,480\n'
            ',,\n'
            '\n'
            '"caf\u0065\u0301/3.jpg",caf\u0065\u0301,1\n')
    table = parse_labels_csv(text.encode(), CSV)
    assert table.rows == (("beach, 2019/1.jpg", ("people", "sunset")), ("x/2.jpg", ()),
                          ("caf\u0065\u0301/3.jpg", ("caf\u00e9",)))
    assert table.row_numbers == (2, 3, 6)
    assert table.ignored_columns == ("width",)
    assert table.labels == ("caf\u00e9", "people", "sunset")


def test_row_numbers_count_the_lines_a_quoted_cell_spans() -> None:
    message = refused('path,labels\n"a\nb.jpg",x\nc.jpg,x\nc.jpg,y\n')
    assert "row 5" in message and "first in row 4" in message


def test_a_million_rows_are_read_in_one_linear_pass() -> None:
    cells = ("beach", "sunset;people", "", "dog;cat;beach")
    text = "path,labels\n" + "".join(f"img/{i}.jpg,{cells[i % 4]}\n" for i in range(10**6))
    table = parse_labels_csv(text.encode(), CSV)
    assert len(table.rows) == 10**6
    assert table.rows[-1] == ("img/999999.jpg", ("beach", "cat", "dog"))
    assert table.labels == ("beach", "cat", "dog", "people", "sunset")


def write_csv(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.csv").write_text(text, encoding="utf-8")
    return folder


def test_files_missing_outside_or_listed_twice_on_disk_are_named(
        tmp_path: Path, make_image: Callable[..., Path]) -> None:
    root = tmp_path / "set"
    make_image(root / "a.png", seed=1)
    (root / "sub").mkdir()
    make_image(tmp_path / "elsewhere.png", seed=2)
    os.symlink(tmp_path / "elsewhere.png", root / "link.png")
    os.symlink(root / "a.png", root / "alias.png")

    def message(rows: str) -> str:
        write_csv(root, "path,labels\n" + rows)
        with pytest.raises(DatasetError) as caught:
            read_labels_csv(root)
        return str(caught.value)

    missing = message("a.png,x\ngone.png,x\nalso-gone.png,y\n")
    assert "row 3: gone.png does not exist (1 more listed files are missing too)" in missing
    assert "row 2: sub is a folder" in message("sub,x\n")
    assert "row 2: link.png is a link to" in message("link.png,x\n")
    assert "outside the folder" in message("link.png,x\n")
    assert "row 3: alias.png is the same file as row 2" in message("a.png,x\nalias.png,y\n")


def test_a_labels_csv_folder_scans_to_its_labels_with_its_findings(
        tmp_path: Path, make_image: Callable[..., Path]) -> None:
    root = tmp_path / "set"
    for i in range(12):
        make_image(root / "img" / f"{i:02}.png", seed=i)
    make_image(root / "img" / "unlisted.png", seed=40)
    (root / "img" / "broken.png").write_bytes(b"not a png at all")
    (root / "img" / "copy.png").write_bytes((root / "img" / "00.png").read_bytes())
    rows = ["img/00.png,beach;sunset", "img/copy.png,people", "img/broken.png,beach"]
    rows += [f"img/{i:02}.png,{'beach' if i % 2 else 'sunset'}" for i in range(1, 10)]
    rows += ["img/10.png,", "img/11.png,", "img/12.png,"]  # 12.png does not exist yet
    make_image(root / "img" / "12.png", seed=30)
    write_csv(root, "path,labels,who\n" + "\n".join(rows) + "\n")

    dataset = scan_multilabel(root)
    assert dataset.source == "labels.csv" and dataset.labels == ("beach", "people", "sunset")
    by_path = {image.relpath: [dataset.labels[i] for i in image.labels]
               for image in dataset.images}
    assert by_path["img/00.png"] == ["beach", "people", "sunset"]  # copy merged, union
    assert "img/copy.png" not in by_path and "img/broken.png" not in by_path
    assert by_path["img/10.png"] == [] and len(dataset.images) == 13
    assert dataset.label_counts == {"beach": 6, "people": 1, "sunset": 5}
    report = dataset.report
    assert [issue.kind for issue in report.errors] == ["too_few_positives"]
    assert "Label 'people' is on only 1 photo" in report.errors[0].message
    assert not report.can_train
    broken = [issue for issue in report.issues if root / "img" / "broken.png" in issue.paths]
    assert broken and broken[0].severity == "warning" and "It was skipped" in broken[0].message
    assert "img/00.png = img/copy.png" in report.of_kind("identical_copies")[0].message
    assert "img/unlisted.png" in report.of_kind("unlisted_images")[0].message
    assert "who" in report.of_kind("ignored_columns")[0].message
    assert "3 photo(s) have none" in report.of_kind("unlabelled_images")[0].message
    assert "beach + people (1 photo)" in report.of_kind("co_occurrence")[0].message
    assert "beach 6, people 1, sunset 5" in report.of_kind("label_counts")[0].message
    few = report.of_kind("few_positives")
    assert {issue.message.split("'")[1] for issue in few} == {"beach", "sunset"}
    assert "is on only 6 photos" in few[0].message


def test_label_folders_with_shared_photos_scan_to_one_photo_per_picture(
        tmp_path: Path, make_image: Callable[..., Path]) -> None:
    root = tmp_path / "set"
    for i in range(6):
        make_image(root / "beach" / f"b{i}.png", seed=i)
        make_image(root / "sunset" / f"s{i}.png", seed=10 + i)
    (root / "sunset" / "z-same.png").write_bytes((root / "beach" / "b0.png").read_bytes())
    (root / "people").mkdir()
    os.link(root / "beach" / "b1.png", root / "people" / "b1.png")
    make_image(root / "people" / "p.png", seed=30)

    with pytest.raises(DatasetError) as caught:
        scan_multilabel(root)
    assert "has no labels.csv" in str(caught.value) and "--multi-label" in str(caught.value)

    seen: list[ScanProgress] = []
    dataset = scan_multilabel(root, from_folders=True, progress=seen.append)
    assert seen[-1] == ScanProgress(done=15, total=15)
    assert cross_folder_copies(scan_dataset(root)) == 2
    assert dataset.source == "folders" and dataset.labels == ("beach", "people", "sunset")
    named = {image.relpath: tuple(dataset.labels[i] for i in image.labels)
             for image in dataset.images}
    assert named["beach/b0.png"] == ("beach", "sunset")
    assert named["beach/b1.png"] == ("beach", "people")
    assert "sunset/z-same.png" not in named and "people/b1.png" not in named
    assert len(dataset.images) == 13
    assert dataset.report.of_kind("merged_copies")[0].message.startswith(
        "2 photo(s) sit in more than one label folder")
    again = scan_multilabel(root, from_folders=True)
    assert again.fingerprint == dataset.fingerprint


def test_a_folder_with_neither_layout_or_a_cancelled_scan_says_so(
        tmp_path: Path, make_image: Callable[..., Path]) -> None:
    with pytest.raises(DatasetError, match=r"has no label folders and no labels\.csv"):
        scan_multilabel(tmp_path, from_folders=True)
    with pytest.raises(DatasetError, match="does not exist"):
        scan_multilabel(tmp_path / "nowhere")
    for i in range(3):
        make_image(tmp_path / "a" / f"{i}.png", seed=i)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DatasetError, match="cancelled"):
        scan_multilabel(tmp_path, from_folders=True, cancel=cancel)


def dataset(labels: tuple[str, ...], image_labels: list[tuple[int, ...]]) -> MultiLabelDataset:
    images = tuple(LabelledImage(Path(f"/set/{i:05}.png"), f"{i:05}.png", tuple(sorted(ls)),
                                 64, 64, f"hash{i}") for i, ls in enumerate(image_labels))
    return MultiLabelDataset(Path("/set"), labels, images, HealthReport(), "x", "labels.csv")


def report_of(labels: tuple[str, ...], image_labels: list[tuple[int, ...]]) -> HealthReport:
    images = dataset(labels, image_labels).images
    return multilabel_report(labels, images, [], [], [], [], from_folders=False,
                             root=Path("/set"))


def test_the_report_names_labels_that_cannot_be_learned_or_told_apart() -> None:
    few = report_of(("a", "b"), [(0,)] * 3)
    assert {issue.kind for issue in few.errors} == {"too_few_images", "empty_label"}
    assert "Only 3 usable photo(s)" in few.of_kind("too_few_images")[0].message
    assert "Label 'b' is on no usable photo" in few.of_kind("empty_label")[0].message
    assert few.of_kind("too_few_negatives")[0].message.startswith(
        "Label 'a' is on 3 of the 3 photos")
    twins = report_of(("a", "b", "c"), [(0, 1)] * 12 + [(2,)] * 12)
    assert twins.can_train
    assert "Labels 'a' and 'b' are on exactly the same 12 photos" in \
        twins.of_kind("same_photos")[0].message
    assert [issue.kind for issue in report_of(("a",), [()] * 8).errors] == ["no_labels",
                                                                           "empty_label"]


def split_labels(data: MultiLabelDataset, part: tuple[int, ...]) -> set[int]:
    return {label for index in part for label in data.images[index].labels}


def random_dataset(seed: int, photos: int = 200) -> MultiLabelDataset:
    """Labels from common to rare (2 positives) and a share of photos with none."""
    draw = random.Random(seed)
    shares = (0.5, 0.3, 0.1, 0.05, 0.02)
    rows = [tuple(label for label, share in enumerate(shares) if draw.random() < share)
            for _ in range(photos)]
    rows += [(0, 1, 2, 3, 4)] * 2  # every label on two photos at least
    rows += [(5,), (5, 0), (6, 1), (6, 2)]  # two labels on exactly two photos
    return dataset(tuple("abcdefg"), rows)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_the_split_keeps_every_label_on_both_sides_and_repeats_per_seed(seed: int) -> None:
    data = random_dataset(seed)
    split = split_multilabel(data, 0.2, seed=seed)
    assert sorted(split.train + split.val) == list(range(len(data.images)))
    everything = set(range(len(data.labels)))
    assert split_labels(data, split.train) == everything == split_labels(data, split.val)
    assert split == split_multilabel(data, 0.2, seed=seed)
    assert split != split_multilabel(data, 0.2, seed=seed + 100)
    assert split.seed == seed and split.source == "seeded"
    assert abs(len(split.val) - 0.2 * len(data.images)) <= 0.025 * len(data.images)
    counts = data.label_counts
    for label, name in enumerate(data.labels):
        in_val = sum(label in data.images[i].labels for i in split.val)
        assert abs(in_val - 0.2 * counts[name]) <= 1  # each label as asked, up to rounding
    unlabelled = [i for i, image in enumerate(data.images) if not image.labels]
    assert abs(len(set(unlabelled) & set(split.val)) - 0.2 * len(unlabelled)) <= 1


def test_the_split_refuses_a_label_on_one_photo_or_labels_no_split_can_serve() -> None:
    with pytest.raises(DatasetError) as caught:
        split_multilabel(dataset(("a", "rare"), [(0,)] * 10 + [(0, 1)]))
    assert str(caught.value).startswith("Label 'rare' is on only 1 photo, so it cannot be "
                                        "both learned (training) and checked (validation).")
    triangle = dataset(("x", "y", "z"), [(0, 1), (0, 2), (1, 2)] + [()] * 10)
    with pytest.raises(DatasetError) as caught:
        split_multilabel(triangle)
    assert "cannot get one on each side without taking it from labels" in str(caught.value)
    assert all(f"'{name}'" in str(caught.value) for name in "xyz")
    with pytest.raises(DatasetError, match="between 0 and 1"):
        split_multilabel(random_dataset(0), val_fraction=1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_that_share_their_photos_still_get_both_sides_when_a_split_exists(
        seed: int) -> None:
    """Stratification alone leaves 'd' (on photos 0 and 4, which carry 'c' too) on one side
    here; only four splits serve every label (val = photos {0, 1, 3}, {0, 2, 5} or their
    mirrors), and the repair finds one."""
    data = dataset(tuple("abcde"), [(2, 3), (2, 4), (1, 2, 4), (0, 1), (2, 3), (0, 2)])
    split = split_multilabel(data, 0.2, seed=seed)
    assert split_labels(data, split.train) == set(range(5)) == split_labels(data, split.val)
