"""Interrupted training: SIGKILL mid-run then --resume, and Ctrl-C, on a tiny dataset."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent


def train_command(dataset: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), "--dataset", str(dataset), "--output-dir", str(out),
            "--glove", "none", "--embedding-dim", "16", "--num-filters", "8", "--batch-size", "4", "--epochs", "4",
            "--num-proc", "1", "--no-progress", "--threads", "1", *extra]


def wait_for_epoch(process: subprocess.Popen, checkpoint: Path, epoch: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = checkpoint / "state.json"
        if state.exists() and json.loads(state.read_text())["epoch"] >= epoch:
            return
        if process.poll() is not None:
            pytest.fail(f"training ended (rc {process.returncode}) before epoch {epoch} was checkpointed")
        time.sleep(0.01)
    pytest.fail("timed out waiting for a checkpoint")


@pytest.fixture(scope="module")
def uninterrupted(tiny_imdb, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "model"
    subprocess.run(train_command(tiny_imdb, out), check=True, capture_output=True)
    return out


def test_kill_then_resume_gives_the_same_model(tiny_imdb, tmp_path, uninterrupted):
    out = tmp_path / "model"
    checkpoint = Path(f"{out}.checkpoint")
    process = subprocess.Popen(train_command(tiny_imdb, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_epoch(process, checkpoint, 1)
    process.kill()  # SIGKILL: no cleanup code runs
    process.wait()
    assert not out.exists(), "the run was killed before it could write its model"
    killed_after = json.loads((checkpoint / "state.json").read_text())["epoch"]
    assert killed_after < 4

    resumed = subprocess.run(train_command(tiny_imdb, out, "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after epoch {killed_after}" in resumed.stderr
    a, b = load_file(str(uninterrupted / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:  # same seed, same batches, same dropout masks: bit for bit
        assert (a[key] == b[key]).all(), key
    metrics_a = json.loads((uninterrupted / "metrics.json").read_text())
    metrics_b = json.loads((out / "metrics.json").read_text())
    assert metrics_a["test_accuracy"] == metrics_b["test_accuracy"]
    assert [h["val_loss"] for h in metrics_a["history"]] == [h["val_loss"] for h in metrics_b["history"]]
    assert not checkpoint.exists(), "a finished run removes its checkpoint"


def test_resume_refuses_changed_arguments(tiny_imdb, tmp_path):
    out = tmp_path / "model"
    process = subprocess.Popen(train_command(tiny_imdb, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_epoch(process, Path(f"{out}.checkpoint"), 1)
    process.kill()
    process.wait()
    result = subprocess.run(train_command(tiny_imdb, out, "--resume", "--lr", "0.5"), capture_output=True, text=True)
    assert result.returncode != 0 and "arguments differ" in result.stderr


def test_resume_without_a_checkpoint_is_a_clear_error(tiny_imdb, tmp_path):
    result = subprocess.run(train_command(tiny_imdb, tmp_path / "model", "--resume"), capture_output=True, text=True)
    assert result.returncode != 0 and "no checkpoint" in result.stderr


def test_ctrl_c_keeps_the_best_model_so_far(tiny_imdb, tmp_path):
    out = tmp_path / "model"
    checkpoint = Path(f"{out}.checkpoint")
    process = subprocess.Popen(train_command(tiny_imdb, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_epoch(process, checkpoint, 1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    if metrics["interrupted"]:  # the signal landed before the last epoch ended
        assert "interrupted" in stderr and checkpoint.exists()
        assert len(metrics["history"]) < 4
    best = max(metrics["history"], key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    assert metrics["best_epoch"] == best["epoch"]
    from textcnn.pipeline import SentimentPipeline

    assert SentimentPipeline.from_pretrained(out)("a great film").label in ("neg", "pos")
