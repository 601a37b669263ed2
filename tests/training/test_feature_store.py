"""The feature store: each photo embedded once, and never a stale or damaged vector trusted.

A stand-in network (each photo's mean colour per channel, counted) makes what was computed
and what came from the store visible; the real network's parity is checked in
test_onnx_features.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import textured_image

from training.data.feature_store import FeatureStore, FileStamp
from training.models.embedding import CENTRE, View, embed_files
from training.records.preprocessing import Preprocessing

REPO = Path(__file__).resolve().parents[2]
PREP = Preprocessing(resize=32, crop=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


class MeanColour:
    """A frozen "network" whose features are the mean of each channel; counts its photos."""

    def __init__(self, digest: str = "mean-colour") -> None:
        self.prep, self.digest, self.width = PREP, digest, 3
        self.maker = "pytorch"
        self.computed = 0

    def prepare(self, _images: int = 0) -> str:
        return "test"

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        self.computed += len(pixels)
        return pixels.float().mean(dim=(2, 3))


def photos(folder: Path, count: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"{index}.png"
        textured_image((40 * index % 255, 90, 160), seed * 100 + index, 32).save(path)
        paths.append(path)
    return paths


def features(paths: list[Path], network: MeanColour, store: FeatureStore | None,
             view: View = CENTRE) -> list[np.ndarray | str]:
    return [item for batch in embed_files(paths, network, store, batch_size=4, view=view)
            for item in batch]


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore(tmp_path / "store" / "features.sqlite3")


def test_each_photo_is_computed_once_and_read_back_identically(tmp_path, store) -> None:
    paths = photos(tmp_path / "gallery", 10)
    network = MeanColour()
    first = features(paths, network, store)
    assert network.computed == 10
    second = features(paths, network, store)
    assert network.computed == 10
    unstored = features(paths, MeanColour(), None)
    for a, b, c in zip(first, second, unstored, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_a_changed_photo_is_embedded_again(tmp_path, store) -> None:
    paths = photos(tmp_path / "gallery", 5)
    network = MeanColour()
    before = features(paths, network, store)
    textured_image((250, 250, 250), 999, 32).save(paths[2])
    os.utime(paths[2], ns=(1, 1))  # a new stamp even on a coarse-clocked file system
    after = features(paths, network, store)
    assert network.computed == 6
    assert not np.array_equal(before[2], after[2])
    assert after[2] == pytest.approx(MeanColour()(_pixels(paths[2])).numpy()[0])


def test_a_deleted_photo_is_an_error_and_forgotten(tmp_path, store) -> None:
    paths = photos(tmp_path / "gallery", 4)
    features(paths, MeanColour(), store)
    paths[1].unlink()
    results = features(paths, MeanColour(), store)
    assert isinstance(results[1], str) and "1.png" in results[1]
    assert store.prune() == 1
    assert store.content_keys([s for p in paths if (s := FileStamp.of(p))]) .keys() == {
        os.path.abspath(p) for p in (paths[0], paths[2], paths[3])}
    rows = sqlite3.connect(store.location).execute("SELECT COUNT(*) FROM vectors").fetchone()
    assert rows[0] == 3


def test_a_renamed_or_copied_photo_is_found_by_its_content(tmp_path, store) -> None:
    paths = photos(tmp_path / "gallery", 3)
    network = MeanColour()
    features(paths, network, store)
    moved = tmp_path / "elsewhere.png"
    paths[0].rename(moved)
    assert isinstance(features([moved], network, store)[0], np.ndarray)
    assert network.computed == 3


@pytest.mark.parametrize("damage", [
    "UPDATE vectors SET vector = zeroblob(12)",          # checksum no longer matches
    "UPDATE vectors SET vector = zeroblob(8)",           # wrong length
    "UPDATE vectors SET checksum = 'x'",
])
def test_a_damaged_entry_is_recomputed_not_trusted(tmp_path, store, damage) -> None:
    paths = photos(tmp_path / "gallery", 3)
    good = features(paths, MeanColour(), store)
    with sqlite3.connect(store.location) as connection:
        connection.execute(damage)
    network = MeanColour()
    again = features(paths, network, store)
    assert network.computed == 3
    assert all(np.array_equal(a, b) for a, b in zip(good, again, strict=True))


def test_a_non_finite_vector_is_not_trusted(tmp_path, store) -> None:
    paths = photos(tmp_path / "gallery", 1)
    features(paths, MeanColour(), store)
    content = next(iter(store.content_keys([FileStamp.of(paths[0])]).values()))
    store.store_vectors("whatever", {content: np.array([np.nan, 1, 2], np.float32)}, "pytorch")
    assert store.vectors("whatever", [content], 3) == {}


def test_a_damaged_store_file_is_replaced(tmp_path) -> None:
    location = tmp_path / "store" / "features.sqlite3"
    location.parent.mkdir()
    location.write_bytes(b"this is not a database" * 100)
    store = FeatureStore(location)
    assert store.available
    paths = photos(tmp_path / "gallery", 2)
    network = MeanColour()
    features(paths, network, store)
    features(paths, network, store)
    assert network.computed == 2


def test_an_unwritable_store_keeps_nothing_and_breaks_nothing(tmp_path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    store = FeatureStore(blocked / "features.sqlite3")
    assert not store.available
    paths = photos(tmp_path / "gallery", 3)
    network = MeanColour()
    assert all(isinstance(item, np.ndarray) for item in features(paths, network, store))
    features(paths, network, store)
    assert network.computed == 6


def test_views_and_networks_never_mix(tmp_path, store) -> None:
    paths = photos(tmp_path / "gallery", 2)
    features(paths, MeanColour(), store)
    other_network = MeanColour("other-weights")
    features(paths, other_network, store)
    assert other_network.computed == 2
    flipped = View("flipped", lambda _content, pixels: pixels[:, :, ::-1].copy() + 1)
    network = MeanColour()
    plain, turned = features(paths, network, store), features(paths, network, store, flipped)
    assert network.computed == 2
    assert not np.array_equal(plain[0], turned[0])


def test_the_store_keeps_to_its_budget_dropping_the_least_recently_used(tmp_path) -> None:
    store = FeatureStore(tmp_path / "store.sqlite3", budget=12 * 5)  # five 3-float vectors
    paths = photos(tmp_path / "gallery", 8)
    features(paths, MeanColour(), store)
    assert store.stored_bytes() <= 60
    network = MeanColour()
    features(paths[-5:], network, store)
    assert network.computed == 0
    features(paths[:3], network, store)
    assert network.computed == 3


def _pixels(path: Path) -> torch.Tensor:
    from training.data.preprocessing import load_pixels

    return torch.from_numpy(load_pixels(path, PREP)).permute(2, 0, 1)[None]


def test_a_writer_killed_mid_write_leaves_a_store_that_opens_and_is_sound(tmp_path) -> None:
    location = tmp_path / "store.sqlite3"
    writer = subprocess.Popen([sys.executable, "-c", f"""
import numpy as np
from pathlib import Path
from training.data.feature_store import FeatureStore
store = FeatureStore(Path({str(location)!r}))
print("ready", flush=True)
index = 0
while True:
    store.store_vectors("space", {{f"photo-{{index + i}}": np.full(1280, index + i, np.float32)
                                  for i in range(50)}}, "pytorch")
    index += 50
"""], stdout=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    store = FeatureStore(location)
    assert store.available
    with sqlite3.connect(location) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        contents = [row[0] for row in connection.execute("SELECT content FROM vectors")]
    assert len(contents) >= 50
    vectors = store.vectors("space", contents, 1280)
    assert len(vectors) == len(contents)  # every committed vector is whole
    assert all(float(v[0]) == float(c.split("-")[1]) for c, v in vectors.items())


# --- issue 21: a stored vector is used only for the bytes it was computed from -------------

def _swap_in(target: Path, replacement: Path) -> None:
    """Put `replacement`'s picture into `target` padded to the same size, with `target`'s
    times kept (what `cp -p`, `rsync -t`, editors and backup restores do)."""
    before = target.stat()
    data = replacement.read_bytes()
    assert len(data) < before.st_size, "pick a smaller replacement"
    target.write_bytes(data + bytes(before.st_size - len(data)))  # decoders ignore the tail
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (before.st_size,
                                                                  before.st_mtime_ns)


def test_a_photo_rewritten_with_its_size_and_time_kept_is_embedded_again(tmp_path, store
                                                                         ) -> None:
    paths = photos(tmp_path / "gallery", 4)
    other = tmp_path / "flat.png"
    Image.new("RGB", (40, 40), (250, 20, 20)).save(other)  # fewer bytes, another picture
    network = MeanColour()
    features(paths, network, store)
    _swap_in(paths[1], other)
    after = features(paths, network, store)
    fresh = features(paths, MeanColour(), None)
    assert np.array_equal(after[1], fresh[1]), "the old photo's vector was used"
    assert network.computed == 5


def test_swapped_file_records_in_a_sound_store_do_not_swap_features(tmp_path, store) -> None:
    paths = photos(tmp_path / "gallery", 2)
    first = features(paths, MeanColour(), store)
    with sqlite3.connect(store.location) as connection:
        (a, key_a), (b, key_b) = connection.execute(
            "SELECT path, content FROM files ORDER BY path").fetchall()
        connection.execute("UPDATE files SET content = ? WHERE path = ?", (key_b, a))
        connection.execute("UPDATE files SET content = ? WHERE path = ?", (key_a, b))
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = features(paths, MeanColour(), store)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


def test_swapped_vector_records_in_a_sound_store_are_not_trusted(tmp_path, store) -> None:
    paths = photos(tmp_path / "gallery", 2)
    first = features(paths, MeanColour(), store)
    with sqlite3.connect(store.location) as connection:
        (key_a,), (key_b,) = connection.execute("SELECT content FROM vectors").fetchall()
        connection.execute("UPDATE vectors SET content = 'x' WHERE content = ?", (key_a,))
        connection.execute("UPDATE vectors SET content = ? WHERE content = ?", (key_a, key_b))
        connection.execute("UPDATE vectors SET content = ? WHERE content = 'x'", (key_b,))
    network = MeanColour()
    again = features(paths, network, store)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert network.computed == 2


def test_a_real_photo_replaced_under_its_old_stamp_is_classified_as_what_it_shows(
        real_photo_model, real_photos, tmp_path) -> None:
    """The issue's case: lion/5.jpg overwritten by a cheetah photo of the same size, its
    modification time restored: `predict` said "lion 1.000" from the stored features."""
    from training.predict.inference import Predictor

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    lion = gallery / "5.jpg"
    lion.write_bytes((real_photos / "lion" / "5.jpg").read_bytes())
    predictor = Predictor.from_model(real_photo_model.model)
    [before] = predictor.predict([lion])
    assert before.label == "lion"
    _swap_in(lion, real_photos / "cheetah" / "146.jpg")
    [after] = Predictor.from_model(real_photo_model.model).predict([lion])
    assert after.label == "cheetah" and after.confidence > 0.9


# --- issue 21: a store that cannot be opened turns itself off and says so once --------------

def test_a_folder_where_the_store_belongs_turns_it_off_with_a_warning(tmp_path, caplog
                                                                      ) -> None:
    location = tmp_path / "store" / "features.sqlite3"
    (location / "inside").mkdir(parents=True)
    with caplog.at_level("WARNING"):
        store = FeatureStore(location)
        paths = photos(tmp_path / "gallery", 3)
        network = MeanColour()
        assert all(isinstance(item, np.ndarray) for item in features(paths, network, store))
    assert not store.available and network.computed == 3
    assert (location / "inside").is_dir(), "nothing of the user's is deleted"
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert str(location) in warning and "is a folder, not a file" in warning
    assert "move the folder away" in warning


def test_a_read_only_store_folder_turns_it_off_and_keeps_the_file(tmp_path, caplog,
                                                                  small_disk) -> None:
    disk = small_disk("cache", "4m")
    location = disk / "features.sqlite3"
    paths = photos(tmp_path / "gallery", 3)
    writable = FeatureStore(location)
    first = features(paths, MeanColour(), writable)
    writable.close()
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    before = location.read_bytes()
    with caplog.at_level("WARNING"):
        store = FeatureStore(location)
        network = MeanColour()
        again = features(paths, network, store)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert location.read_bytes() == before, "the store file must not be deleted"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not store.available and len(warnings) == 1 and str(location) in warnings[0]


def test_cli_predict_with_a_folder_where_the_store_belongs_warns_once_and_works(
        colours_model, tmp_path) -> None:
    home = tmp_path / "home"
    (home / "cache" / "features" / "features.sqlite3").mkdir(parents=True)
    paths = photos(tmp_path / "gallery", 2)
    done = subprocess.run(
        [sys.executable, "-m", "training.cli", "predict", str(colours_model),
         *map(str, paths)], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CHEETAHLION_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line.lower()]
    assert len(warnings) == 1 and "features.sqlite3 is a folder" in warnings[0], done.stderr
    assert len(done.stdout.strip().splitlines()) >= 2


def test_a_dataset_photo_rewritten_with_its_stamp_kept_is_embedded_again(tmp_path, store
                                                                          ) -> None:
    """What quick training, the finder and the map read (`embed_dataset`)."""
    from training.models.embedding import embed_dataset

    paths = photos(tmp_path / "data", 3)
    embed_dataset(paths, MeanColour(), store)
    other = tmp_path / "flat.png"
    Image.new("RGB", (40, 40), (20, 250, 20)).save(other)
    _swap_in(paths[0], other)
    network = MeanColour()
    rows = embed_dataset(paths, network, store)
    assert network.computed == 1 and rows[0].tolist() == [20.0, 250.0, 20.0]


def test_a_store_of_the_earlier_format_is_made_anew(tmp_path) -> None:
    """Format 1 (vectors without their maker, checksums over the floats alone)."""
    location = tmp_path / "store" / "features.sqlite3"
    location.parent.mkdir()
    with sqlite3.connect(location) as connection:
        connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        connection.execute("INSERT INTO meta VALUES ('format', '1')")
        connection.execute("CREATE TABLE vectors (content TEXT NOT NULL, space TEXT NOT NULL,"
                           " vector BLOB NOT NULL, checksum TEXT NOT NULL, used REAL NOT NULL,"
                           " PRIMARY KEY (content, space))")
    connection.close()
    store = FeatureStore(location)
    assert store.available and store.problem is None
    paths = photos(tmp_path / "gallery", 2)
    network = MeanColour()
    features(paths, network, store)
    features(paths, network, store)
    assert network.computed == 2
