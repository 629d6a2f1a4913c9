"""Interrupted training: SIGKILL mid-run then --resume, and Ctrl-C, on a tiny dataset."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

import train

ROOT = Path(__file__).resolve().parent.parent


def train_arguments(dataset: Path, out: Path, *extra: str) -> list[str]:
    return ["--dataset", str(dataset), "--output-dir", str(out), "--glove", "none", "--embedding-dim", "16",
            "--num-filters", "8", "--batch-size", "4", "--epochs", "4", "--num-proc", "1", "--no-progress",
            "--threads", "1", *extra]


def train_command(dataset: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), *train_arguments(dataset, out, *extra)]


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


@pytest.fixture(scope="module")
def killed_checkpoint(tiny_imdb, tmp_path_factory) -> tuple[Path, int]:
    """The checkpoint a run left when SIGKILLed after its first epoch, and the epoch it had finished."""
    out = tmp_path_factory.mktemp("killed") / "model"
    checkpoint = Path(f"{out}.checkpoint")
    process = subprocess.Popen(train_command(tiny_imdb, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_epoch(process, checkpoint, 1)
    process.kill()  # SIGKILL: no cleanup code runs
    process.wait()
    assert not out.exists(), "the run was killed before it could write its model"
    killed_after = json.loads((checkpoint / "state.json").read_text())["epoch"]
    assert killed_after < 4
    return checkpoint, killed_after


def resumable(killed_checkpoint: tuple[Path, int], out: Path) -> Path:
    """A copy of the killed run's checkpoint beside ``out`` (where ``--output-dir out`` looks), so each test
    resumes its own; the output folder is a runtime setting, free to differ from the killed run's."""
    checkpoint = Path(f"{out}.checkpoint")
    shutil.copytree(killed_checkpoint[0], checkpoint)
    return checkpoint


def test_kill_then_resume_gives_the_same_model(tiny_imdb, tmp_path, uninterrupted, killed_checkpoint):
    out = tmp_path / "model"
    checkpoint = resumable(killed_checkpoint, out)
    resumed = subprocess.run(train_command(tiny_imdb, out, "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after epoch {killed_checkpoint[1]}" in resumed.stderr
    a, b = load_file(str(uninterrupted / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:  # same seed, same batches, same dropout masks: bit for bit
        assert (a[key] == b[key]).all(), key
    metrics_a = json.loads((uninterrupted / "metrics.json").read_text())
    metrics_b = json.loads((out / "metrics.json").read_text())
    assert metrics_a["test_accuracy"] == metrics_b["test_accuracy"]
    assert [h["val_loss"] for h in metrics_a["history"]] == [h["val_loss"] for h in metrics_b["history"]]
    assert not checkpoint.exists(), "a finished run removes its checkpoint"


def test_a_self_distilled_run_resumes_to_the_same_model(tiny_imdb, tmp_path):
    """--self-distill relabels the spans after each epoch from the model of that moment; the labels are
    not in the checkpoint, so a resumed run makes them again from the checkpoint's model."""
    extra = ("--spans", "40", "--self-distill", "0.5")
    whole = tmp_path / "whole"
    subprocess.run(train_command(tiny_imdb, whole, *extra), check=True, capture_output=True)
    out = tmp_path / "model"
    process = subprocess.Popen(train_command(tiny_imdb, out, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_epoch(process, Path(f"{out}.checkpoint"), 1)
    process.kill()
    process.wait()
    resumed = subprocess.run(train_command(tiny_imdb, out, *extra, "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stderr and "self-distillation:" in resumed.stderr
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(out / "model.safetensors"))
    for key in a:
        assert (a[key] == b[key]).all(), key


def test_resume_refuses_changed_arguments(tiny_imdb, tmp_path, killed_checkpoint):
    out = tmp_path / "model"
    resumable(killed_checkpoint, out)
    with pytest.raises(train.Refused) as refused:
        train.main(train_arguments(tiny_imdb, out, "--resume", "--lr", "0.5"))
    assert "arguments differ" in str(refused.value.code) and "'lr': (" in str(refused.value.code)
    assert not out.exists()


def test_resume_without_a_checkpoint_is_a_clear_error(tiny_imdb, tmp_path):
    with pytest.raises(train.Refused, match="no checkpoint"):
        train.main(train_arguments(tiny_imdb, tmp_path / "model", "--resume"))


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


# --- what a killed run leaves behind --------------------------------------------------------

def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_writer_killed_mid_folder_leaves_a_staging_folder_the_next_write_removes(tmp_path):
    from textcnn.atomic import atomic_directory

    target = tmp_path / "model"
    script = ("import os, signal, sys; from textcnn.atomic import atomic_directory\n"
              "with atomic_directory(sys.argv[1]) as staging:\n"
              "    (staging / 'weights').write_bytes(b'x' * 1000)\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", script, str(target)], cwd=ROOT, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    [leftover] = tmp_path.glob(".model.staging-*")
    assert not target.exists()
    with atomic_directory(target) as staging:
        (staging / "weights").write_bytes(b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"] and not leftover.exists()


def test_a_live_writers_staging_folder_is_left_alone(tmp_path):
    from textcnn.atomic import remove_stale_staging

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".model.staging-{sleeper.pid}-abcd1234"
        stale = tmp_path / f".model.staging-{dead_pid()}-abcd1234"
        legacy = tmp_path / ".model.staging-q1w2e3r4"  # no process id: an earlier version's
        tmp_file = tmp_path / f".model.{dead_pid()}-zx81ab_9.tmp"
        unrelated = tmp_path / ".model.checkpoint.staging-1-abcd1234"  # another target's
        for folder in (live, stale, legacy, unrelated):
            folder.mkdir()
        tmp_file.write_bytes(b"")
        assert set(remove_stale_staging(tmp_path / "model")) == {stale, legacy, tmp_file}
        assert live.exists() and unrelated.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_writer_killed_between_the_two_renames_gets_the_previous_folder_back(tmp_path):
    from textcnn.atomic import remove_stale_staging

    previous = tmp_path / f".model.old-{dead_pid()}-abcd1234"
    previous.mkdir()
    (previous / "weights").write_bytes(b"previous")
    (tmp_path / f".model.staging-{dead_pid()}-efgh5678").mkdir()
    remove_stale_staging(tmp_path / "model")
    assert (tmp_path / "model" / "weights").read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_train_removes_stale_staging_folders_on_start(tmp_path):
    out = tmp_path / "model"
    leftovers = [tmp_path / f".model.staging-{dead_pid()}-abcd1234",
                 tmp_path / f".model.checkpoint.staging-{dead_pid()}-abcd1234",
                 tmp_path / f".prepared.old-{dead_pid()}-abcd1234"]
    (tmp_path / "prepared").mkdir()
    for leftover in leftovers:
        leftover.mkdir()
    with pytest.raises(train.Refused, match="no-such-data"):  # refused, but only after tidying up
        train.main(train_arguments(tmp_path / "no-such-data", out, "--prepared", str(tmp_path / "prepared")))
    assert not any(leftover.exists() for leftover in leftovers)


def descendants(pid: int) -> set[int]:
    """Live (not zombie) processes under ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except (OSError, ValueError):
                continue
            if state != "Z":
                parents[int(entry.name)] = int(ppid)
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def many_reviews(root: Path, n: int) -> Path:
    """Reviews of made-up words: every chunk is new to the tokenizer's cache, so tokenising takes a while."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype="S1")
    words = rng.choice(letters, size=(n * 60, 7)).view("S7").ravel().astype(str)
    texts = [" ".join(words[i * 60 : (i + 1) * 60]) + "." for i in range(n)]
    folder = root / "plain_text"
    folder.mkdir(parents=True)
    for split, rows in (("train", texts), ("test", texts[:100])):
        pq.write_table(pa.table({"text": rows, "label": [i % 2 for i in range(len(rows))]}),
                       folder / f"{split}-00000-of-00001.parquet")
    return root


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_tokenising_workers_die_with_a_killed_run(tmp_path):
    dataset = many_reviews(tmp_path / "data", 8000)
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache")}  # nothing tokenised yet
    command = train_command(dataset, tmp_path / "model", "--no-distill")
    command[command.index("--num-proc") + 1] = "2"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 180
    while len(workers) < 2 and process.poll() is None and time.monotonic() < deadline:
        workers = descendants(process.pid)
        time.sleep(0.02)
    assert len(workers) >= 2, "the run never started its tokenising workers"
    time.sleep(1)  # into the work: each worker has its shard
    process.kill()
    process.wait()
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in workers if alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"{len(survivors)} worker process(es) outlived the killed run"
