"""`cheetahlion-cli train` under `torchrun --nproc_per_node=2` on the CPU (gloo): both
processes train, one model file and one run record are written, by rank 0, and the model is
as good as a single-process run's; plus how the training images are dealt out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from synthetic import make_dataset

from training.cli import main
from training.fitting.distributed import Workers, under_autocast
from training.fitting.modelfile import load_model
from training.records.run_record import RunRecord
from training.records.runs import list_runs

REPO = Path(__file__).resolve().parents[2]
FINETUNE = ["--mode", "finetune", "--epochs", "3", "--lr", "1e-3", "--image-size", "64",
            "--batch-size", "4"]
QUICK = ["--image-size", "64"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "colours", per_class=16)


def _torchrun(data: Path, output: Path, options: list[str], home: Path
              ) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "training.cli", "train", str(data),
               "-o", str(output), *options, "--json"]
    environment = {**os.environ, "CHEETAHLION_HOME": str(home), "OMP_NUM_THREADS": "1",
                   "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=240, check=False)


def _single(data: Path, output: Path, options: list[str], capsys: pytest.CaptureFixture[str]
            ) -> dict[str, object]:
    capsys.readouterr()
    assert main(["train", str(data), "-o", str(output), *options, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _check_two_workers_wrote_once(done: subprocess.CompletedProcess[str], data: Path,
                                  output: Path, home: Path) -> tuple[dict[str, object],
                                                                      RunRecord]:
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training process rank 0 of 2" in done.stderr
    assert "training process rank 1 of 2" in done.stderr
    summary = json.loads(done.stdout)  # one JSON document: only rank 0 printed it
    assert summary["model"] == str(output)
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no temp files
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHEETAHLION_HOME", str(home))
        records = list_runs(data)
    assert len(records) == 1
    record = records[0]
    assert record.workers == 2
    assert record.stopped == "completed"
    assert record.model_path == str(output)
    run_folder = next(home.rglob("run.json")).parent
    assert [p.name for p in run_folder.iterdir()] == ["run.json"]  # no checkpoint left over
    return summary, record


@pytest.mark.slow
def test_finetune_on_two_processes_writes_one_model_as_good_as_one_process(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "two" / "model.safetensors"
    home = tmp_path / "home-two"
    done = _torchrun(data, output, FINETUNE, home)
    summary, record = _check_two_workers_wrote_once(done, data, output, home)
    model = load_model(output)
    assert model.classes == ("blue", "red")
    assert model.metadata["metrics"]["val_accuracy"] == pytest.approx(summary["val_accuracy"])
    assert len(record.epochs) == 3

    alone = _single(data, tmp_path / "one" / "model.safetensors", FINETUNE, capsys)
    one_image = 1 / record.split["val"]
    assert abs(summary["val_accuracy"] - alone["val_accuracy"]) <= one_image + 1e-9
    assert summary["val_accuracy"] >= 0.8


@pytest.mark.slow
def test_quick_on_two_processes_trains_the_same_head_as_one_process(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "two" / "model.safetensors"
    home = tmp_path / "home-two"
    done = _torchrun(data, output, QUICK, home)
    summary, _record = _check_two_workers_wrote_once(done, data, output, home)
    alone = _single(data, tmp_path / "one" / "model.safetensors", QUICK, capsys)
    # the features were computed half by each process and gathered back in order
    assert summary["val_accuracy"] == alone["val_accuracy"]
    assert summary["val_loss"] == pytest.approx(alone["val_loss"], rel=1e-3, abs=1e-5)
    two, one = load_model(output).network.state_dict(), load_model(
        tmp_path / "one" / "model.safetensors").network.state_dict()
    head = [name for name in one if name.startswith("classifier")]
    assert head
    for name in head:
        assert (two[name] - one[name]).abs().max() < 1e-3


def test_every_process_gets_an_equal_share_of_one_shuffled_order() -> None:
    indices = tuple(range(100, 111))  # 11 images, 3 processes: one is repeated
    shares = [Workers(rank, 3).shard(indices, seed=5) for rank in range(3)]
    assert {len(share) for share in shares} == {4}
    dealt = [index for share in shares for index in share]
    assert set(dealt) == set(indices)
    assert len(dealt) == 12
    assert shares == [Workers(rank, 3).shard(indices, seed=5) for rank in range(3)]
    assert shares != [Workers(rank, 3).shard(indices, seed=6) for rank in range(3)]
    assert [Workers(rank, 2).shard(indices, seed=5, pad=False) for rank in range(2)] == [
        indices[0::2], indices[1::2]]


def test_alone_everything_is_unchanged() -> None:
    alone = Workers()
    assert alone.is_main and not alone.distributed
    assert alone.shard((3, 1, 2), seed=0) == (3, 1, 2)
    assert alone.sum([1.5, 2]) == [1.5, 2]
    assert alone.any(False) is False


def test_records_from_before_workers_load_as_one_process() -> None:
    old = {"run_id": "r", "created": "2024-01-01T00:00:00+00:00", "dataset_root": "/d",
           "dataset_fingerprint": "f", "classes": ["a", "b"], "config": {}, "device": "cpu",
           "split": {}, "epochs": [], "step_losses": [], "best_epoch": 1,
           "best_val_loss": 0.1, "best_val_accuracy": 1.0, "baseline_accuracy": None,
           "stopped": "completed", "seconds": 1.0, "model_path": None, "versions": {}}
    assert RunRecord.from_dict(old).workers == 1


def test_half_precision_only_where_the_config_and_a_gpu_ask_for_it() -> None:
    """The full and the partial fine-tune share `under_autocast`: on the CPU the forward pass
    is untouched (float32, as before); on a CUDA device float16 comes with a loss scaler,
    bfloat16 without, and the logits come back in float32 for the loss either way."""
    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return inputs * 2

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    for precision in ("fp16", "bf16", "auto"):
        assert under_autocast(forward, precision, cpu) == (forward, None)
    assert under_autocast(forward, "fp32", gpu) == (forward, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no CUDA here: the scaler and autocast say so
        halved, scaler = under_autocast(forward, "fp16", gpu)
        assert halved is not forward and isinstance(scaler, torch.amp.GradScaler)
        assert halved(torch.ones(2, dtype=torch.float16)).dtype == torch.float32
        halved, scaler = under_autocast(forward, "bf16", gpu)
        assert halved is not forward and scaler is None
