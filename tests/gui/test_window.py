"""The window on synthetic data: empty state, menus, settings, drops, refusals, stale results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent, QKeySequence
from PySide6.QtWidgets import QLabel
from synthetic import make_dataset, textured_image

from cheetahlion_gui.settings import Settings
from training.core import paths


def _scan(window, qtbot, folder: Path) -> None:
    window.open_dataset(folder)
    qtbot.waitUntil(lambda: not window.data_page.runner.busy and window.session.dataset
                    is not None and window.session.dataset.root == folder.resolve(),
                    timeout=30_000)


def test_first_start_explains_the_folder_layout(window) -> None:
    assert window.data_page.stack.currentIndex() == 0
    shown = window.data_page.empty_state.findChildren(QLabel)
    assert any("cheetah/" in label.text() for label in shown)
    assert window.windowTitle() == "CheetahLion"
    actions = window.findChildren(type(window.open_dataset_action))
    shortcuts = {action.text(): action.shortcut() for action in actions}
    assert shortcuts["&Open dataset folder…"] == QKeySequence(QKeySequence.StandardKey.Open)
    assert shortcuts["&Quit"] == QKeySequence(QKeySequence.StandardKey.Quit)
    assert shortcuts["Open &model file…"] == QKeySequence("Ctrl+Shift+O")


def test_settings_live_in_the_redirected_home_and_remember_datasets(window, qtbot,
                                                                    tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "colours", per_class=4)
    _scan(window, qtbot, data)
    assert Settings.file().is_relative_to(paths.config_dir())
    saved = json.loads(Settings.file().read_text())
    assert saved["recent_datasets"][0] == str(data.resolve())
    assert "CHEETAHLION_HOME" not in str(Path.home())
    window.close()
    assert (paths.config_dir() / "window.ini").exists()


def test_dropping_a_folder_opens_it(window, qtbot, tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "dropped", per_class=3)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(data))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.session.dataset is not None, timeout=30_000)
    assert window.session.dataset.classes == ("blue", "red")


def test_a_single_class_is_explained_and_training_refused(window, qtbot, messages,
                                                          tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "one", classes=("red",), per_class=3)
    _scan(window, qtbot, data)
    assert window.data_page.overview.blocking.isVisible()
    assert "at least two classes" in window.data_page.overview.blocking.text()
    assert not window.train_page.start()
    assert messages and "cannot be trained yet" in messages[-1][0]


def test_a_second_training_while_one_runs_is_refused(window, qtbot, messages,
                                                     tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "colours", per_class=6)
    _scan(window, qtbot, data)
    page = window.train_page
    page.form.advanced.setChecked(True)
    page.form.image_size.setValue(64)
    assert page.start()
    assert not page.start()
    assert messages[-1][0] == "Training running"
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=60_000)


def test_a_bad_setting_is_reported_not_crashed(window, qtbot, messages, tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "colours", per_class=4)
    _scan(window, qtbot, data)
    window.train_page.form.advanced.setChecked(True)
    window.train_page.form.image_size.setValue(8)  # below the 32 px minimum
    assert not window.train_page.start()
    assert "image size must be 32 to 1024" in messages[-1][1]


def test_another_folder_mid_classification_drops_stale_results(window, qtbot,
                                                               tmp_path: Path) -> None:
    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir()
    small.mkdir()
    for i in range(120):
        textured_image((200, 40, 40), i, size=96).save(big / f"big-{i}.png")
    for i in range(3):
        textured_image((40, 60, 200), 500 + i, size=96).save(small / f"small-{i}.png")
    window.sidebar.setCurrentRow(3)
    page = window.classify_page
    page.sources_bar.model_source.setCurrentIndex(page.sources_bar.model_source.findData("imagenet"))
    page.open_sources([big])
    qtbot.waitUntil(lambda: page.model.rowCount() == 120, timeout=60_000)
    page.open_sources([small])
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() == 3
                    and all(i.label for i in page.model.items()), timeout=120_000)
    assert {Path(i.path).name for i in page.model.items()} == {f"small-{i}.png" for i in range(3)}
    qtbot.wait(300)  # anything still queued from the big folder would land now
    assert page.model.rowCount() == 3


def test_classified_images_can_be_added_to_the_dataset(window, qtbot, tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "colours", per_class=6)
    _scan(window, qtbot, data)
    train = window.train_page
    train.form.advanced.setChecked(True)
    train.form.image_size.setValue(64)
    assert train.start()
    qtbot.waitUntil(lambda: not train.runner.busy, timeout=60_000)
    new = tmp_path / "new"
    new.mkdir()
    textured_image((200, 40, 40), 900, size=64).save(new / "0.png")  # clashes with red/0.png
    window.sidebar.setCurrentRow(3)
    page = window.classify_page
    page.open_sources([new])
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() == 1
                    and page.model.item(0).label == "red", timeout=60_000)
    [red] = [a for a in page.file_actions.add_menu.actions() if a.text() == "red"]
    red.trigger()
    qtbot.waitUntil(lambda: not page.file_actions.files.runner.busy, timeout=60_000)
    assert sorted(p.name for p in (data / "red").iterdir())[-1] == "5.png"
    assert (data / "red" / "0 (2).png").exists() and (data / "red" / "0.png").exists()
    assert (new / "0.png").exists(), "adding copies: the original stays"


def test_the_window_paints_before_torch_is_imported() -> None:
    """Building and showing the window must not import torch (it loads in a worker)."""
    probe = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from cheetahlion_gui.main_window import MainWindow\n"
        "from cheetahlion_gui.settings import Settings\n"
        "w = MainWindow(Settings()); w.show(); w.grab()\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_garbage_is_collected_on_the_gui_thread_not_in_workers(window, qtbot) -> None:
    """Qt objects freed by the collector in a worker thread deadlocked the suite once."""
    import gc
    import threading
    import weakref

    assert not gc.isenabled()
    # The warm-up ends in gc.freeze(), which would keep this test's garbage forever.
    qtbot.waitUntil(lambda: not window.warming_up, timeout=60_000)
    collected_in: list[threading.Thread] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    def allocate_garbage() -> None:
        first = Cycle()
        weakref.finalize(first, lambda: collected_in.append(threading.current_thread()))
        del first
        keep = [Cycle() for _ in range(5_000)]  # well past the first generation's threshold
        del keep

    worker = threading.Thread(target=allocate_garbage)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(collected_in), timeout=60_000)
    assert collected_in == [threading.main_thread()]
    window.close()
    assert gc.isenabled(), "closing the window hands collection back to Python"


@pytest.mark.slow
def test_every_job_loads_the_engine_before_its_work() -> None:
    """Two threads importing torchvision at once broke it; jobs import it one at a time."""
    code = (
        "import sys\n"
        "from cheetahlion_gui.jobs import Job\n"
        "class Probe(Job):\n"
        "    def work(self):\n"
        "        loaded = {'torchvision.transforms', 'training.fitting.trainer'}\n"
        "        return loaded <= set(sys.modules)\n"
        "assert 'torchvision' not in sys.modules\n"
        "seen = []\n"
        "job = Probe()\n"
        "job.succeeded.connect(seen.append)\n"
        "job.run()\n"
        "print(seen)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[True]"


def test_closing_drops_queued_clean_up_moves(window, qtbot, tmp_path: Path) -> None:
    """A move queued behind a running job must not start while the window closes: the user
    closed the app, and a move started then could outlive the wait for its thread."""
    data = make_dataset(tmp_path / "colours", per_class=10)
    window.open_dataset(data)
    qtbot.waitUntil(lambda: not window.data_page.runner.busy
                    and window.session.dataset is not None, timeout=30_000)
    page = window.data_page
    page.suspects_view.find()  # a job of several seconds
    assert page.runner.busy
    image = data / "red" / "0.png"
    page.cleanup.move_to_class([image], "blue")
    assert page._queued, "the move waits for the running job"
    window.close()
    assert not page.runner.busy
    assert image.exists() and len(list((data / "blue").iterdir())) == 10


def test_jobs_that_run_pytorch_hold_it_against_exports_and_file_jobs_do_not(qapp) -> None:
    """An export in one job's thread traced the network another job was running (a quick
    training during the start-up graph export failed inside torch): jobs that run PyTorch
    hold `torch_access.shared()` while they work; jobs that only touch files never wait for
    an export."""
    from cheetahlion_gui.jobs import Job
    from cheetahlion_gui.jobs.call import CallJob
    from cheetahlion_gui.jobs.cleanup import CleanupJob
    from cheetahlion_gui.jobs.dataset import RunsJob, ScanJob
    from training.core import torch_access

    class Probe(Job):
        def work(self) -> bool:
            return torch_access.held_shared()

    seen: list[object] = []
    for job in (Probe(), CallJob(torch_access.held_shared)):
        job.succeeded.connect(seen.append)
        job.run()
    assert seen == [True, False]
    assert not any(kind.runs_torch for kind in (ScanJob, RunsJob, CleanupJob, CallJob))
    assert not torch_access.held_shared()
