"""The dataset map of 10,000 photos: how soon it appears once their features exist, and how
smoothly it pans.

Setup (not timed): N small distinct PNGs in four class folders (default 10,000; 100 of them
exact copies of others, so the map draws links), scanned once. Their features are not
computed with the network (10,000 photos take minutes on two cores): synthetic 1280-wide
vectors, shaped like pooled CNN features (non-negative, a centre per class, a few
sub-clusters inside each, noise; 2 % of each class near another class's centre, like
mislabelled photos), are written into the feature store under the pretrained network's
space for each file's content, exactly where the finder would have left them. So the app
finds every feature in the store, as it does after "Find likely mislabelled images".

Measured, in one process, offscreen (QT_QPA_PLATFORM=offscreen is set here):

- engine: `dataset_map(dataset)` alone (network load and weights digest, store reads,
  projection), and the projection alone on the same vectors;
- app: the real main window on the scanned folder, Data step, Map tab, "Draw the map"
  clicked: the time until the map is painted (the job, its result on the GUI thread, and a
  full render of the plot, `grab()`). Target ≤ 2 s;
- panning: the view moved by 1 % of its width per frame, each frame a full render of the
  plot (`grab()`), the whole map in view (every point drawn). Target ≥ 30 frames/s;
- hover and lasso: finding the point under the pointer, and a lasso of 200 vertices over all
  points (both on the GUI thread).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/dataset_map.py
    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/dataset_map.py --quick   # 400
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import _common
import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from training.records.dataset import Dataset

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TARGET_SECONDS = 2.0
TARGET_FPS = 30.0
CLASSES = ("cheetah", "leopard", "lion", "tiger")
COPIES = 100
WIDTH = 1280
PAN_FRAMES = 60
TIMEOUT_S = 900.0


def write_photos(folder: Path, count: int) -> None:
    """`count` distinct 40 px PNGs over four class folders; the last COPIES are copies."""
    rng = np.random.default_rng(0)
    distinct = count - min(COPIES, count // 10)
    written: list[Path] = []
    for index in range(count):
        name = CLASSES[index % len(CLASSES)]
        path = folder / name / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if index < distinct:
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
            written.append(path)
        else:
            path.write_bytes(written[index - distinct].read_bytes())


def synthetic_features(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, WIDTH) non-negative vectors: class centres, sub-clusters, noise, 2 % strays."""
    rng = np.random.default_rng(seed)
    centres = rng.gamma(1.0, 1.0, (len(CLASSES), WIDTH))
    sub = rng.normal(0, 0.6, (len(CLASSES), 3, WIDTH))
    home = labels.copy()
    strays = rng.random(len(labels)) < 0.02
    home[strays] = (labels[strays] + 1) % len(CLASSES)
    features = centres[home] + sub[home, rng.integers(0, 3, len(labels))]
    features += rng.normal(0, 0.8, features.shape)
    return np.maximum(features, 0).astype(np.float32)


def store_features(dataset: Dataset) -> None:
    """Write each photo's synthetic vector where the map (and the finder) will look."""
    from training.data.feature_store import FileStamp
    from training.models.embedding import CENTRE_VIEW, default_store, space_key
    from training.models.frozen import pretrained_frozen

    store = default_store()
    space = space_key(pretrained_frozen(), CENTRE_VIEW)
    vectors = synthetic_features(np.array(dataset.labels))
    store.remember_files((FileStamp.of(r.path), r.content_hash) for r in dataset.images)
    store.store_vectors(space, {r.content_hash: vectors[i]
                                for i, r in enumerate(dataset.images)}, "pytorch")


def engine_times(dataset: Dataset) -> dict[str, float]:
    import torch

    from training.insight.dataset_map import dataset_map, project

    dataset_map(dataset)  # warm: imports, the graph-less network, the store's connection
    started = time.perf_counter()
    drawn = dataset_map(dataset)
    whole = time.perf_counter() - started
    features = torch.from_numpy(synthetic_features(np.array(dataset.labels)))
    started = time.perf_counter()
    project(features)
    return {"engine_seconds": whole, "projection_seconds": time.perf_counter() - started,
            "explained": drawn.explained}


def app_times(folder: Path) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from cheetahlion_gui.data.map_plot import inside
    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.session_driver import SessionDriver
    from cheetahlion_gui.settings import Settings

    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = MainWindow(Settings.load())
    window.resize(1280, 800)
    window.show()
    driver = SessionDriver(window, TIMEOUT_S)
    driver.open_dataset(folder, by_clicking=False)
    page = window.data_page
    view = page.map_view
    page.tabs.setCurrentWidget(view)
    app.processEvents()
    started = time.perf_counter()
    # The GUI thread waits as the app's does, and the step ends when `drawn` comes.
    job = driver.step("drawing the map", view.draw_button.click, view.drawn)
    view.plot.grab()
    appeared = time.perf_counter() - started
    assert view.shown is not None and len(view.shown) == len(window.session.dataset.images)
    plot, box = view.plot, view.plot.box
    step = box.viewRange()[0][1] - box.viewRange()[0][0]
    plot.grab()
    started = time.perf_counter()
    for frame in range(PAN_FRAMES):
        box.translateBy(x=step * (0.01 if frame % 40 < 20 else -0.01))
        plot.grab()
    fps = PAN_FRAMES / (time.perf_counter() - started)
    # Panning can leave the view over a gap between clusters (the small --quick set):
    # hover over every point's place in the whole map, as a user first sees it.
    box.autoRange(padding=0.05)
    app.processEvents()
    where = [plot.scene_position(i) for i in range(0, len(plot.xy), max(1, len(plot.xy) // 100))]
    where = [p for p in where if box.sceneBoundingRect().contains(p)]
    started = time.perf_counter()
    assert all(plot.nearest(p) >= 0 for p in where)
    hover = (time.perf_counter() - started) / len(where)
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    (x0, x1), (y0, y1) = box.viewRange()
    lasso = np.column_stack([(x0 + x1) / 2 + (x1 - x0) / 4 * np.cos(angles),
                             (y0 + y1) / 2 + (y1 - y0) / 4 * np.sin(angles)])
    started = time.perf_counter()
    inside(plot.xy, lasso)
    selecting = time.perf_counter() - started
    size = plot.size()
    window.close()
    return {"job_seconds": job, "appear_seconds": appeared, "pan_fps": fps,
            "hover_ms": hover * 1000, "lasso_ms": selecting * 1000, "points": len(plot.xy),
            "plot_pixels": f"{size.width()}x{size.height()}"}


def main() -> int:
    parser = _common.parser(__doc__)
    parser.add_argument("--photos", type=int, default=None,
                        help="how many photos (default 10,000; 400 with --quick)")
    args = parser.parse_args()
    count = args.photos or (400 if args.quick else 10_000)
    work = _common.workspace("dataset-map")
    folder = work / "data"
    _common.progress(f"writing {count} photos…")
    write_photos(folder, count)
    from training.data.scanning import scan_dataset

    _common.progress("scanning them and storing their features (setup)…")
    dataset = scan_dataset(folder)
    store_features(dataset)
    _common.progress("the engine…")
    results = {"photos": len(dataset.images), "copy_groups": len(dataset.duplicate_groups),
               **engine_times(dataset)}
    _common.progress("the app…")
    results.update(app_times(folder))
    appear, fps = results["appear_seconds"], results["pan_fps"]
    rows = [
        ("map appears after Draw (job + paint), s", appear, TARGET_SECONDS,
         appear / TARGET_SECONDS, _common.verdict(appear <= TARGET_SECONDS)),
        ("  of which the job (engine + result), s", results["job_seconds"], "", "", ""),
        ("  dataset_map() alone, s", results["engine_seconds"], "", "", ""),
        ("  projection alone (PCA), s", results["projection_seconds"], "", "", ""),
        ("pan, frames/s (full render each)", fps, TARGET_FPS, fps / TARGET_FPS,
         _common.verdict(fps >= TARGET_FPS)),
        ("hover lookup, ms", results["hover_ms"], "", "", ""),
        ("lasso of 200 vertices, ms", results["lasso_ms"], "", "", ""),
    ]
    text = (_common.table(("measure", "value", "target", "ratio", ""), rows)
            + f"\n{results['points']} points, plot {results['plot_pixels']} px, "
              f"{results['copy_groups']} copy groups, {results['explained']:.0%} of the "
              "variance on the map's axes")
    _common.report(args, f"Dataset map of {len(dataset.images)} photos", text, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
