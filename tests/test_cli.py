"""The predict CLI (``python -m textcnn predict``) under hostile input: one JSON record per line, in
order, within a second each, and a clear message (never a traceback) for what it cannot do."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import hostile
from textcnn import cli
from textcnn.pipeline import BUNDLED_MODEL, SentimentPipeline

REPO_ROOT = Path(__file__).resolve().parent.parent

HOSTILE_LINES = hostile.file_lines()  # name -> (one line of the input file, whether it is empty)
INVALID_UTF8_LINE = list(HOSTILE_LINES).index("invalid UTF-8") + 1


def hostile_file_bytes() -> bytes:
    return b"".join(line + b"\n" for line, _ in HOSTILE_LINES.values())


def check_records(stdout: str) -> list[dict]:
    """One record per input line, in order: an error for the empty ones, a prediction for the rest."""
    records = [json.loads(line) for line in stdout.splitlines()]
    assert len(records) == len(HOSTILE_LINES)
    for number, (name, (_, empty), record) in enumerate(zip(HOSTILE_LINES, HOSTILE_LINES.values(), records), 1):
        if empty:
            assert record == {"error": f"line {number} is empty: nothing to classify"}, name
        else:
            probabilities = record["probabilities"]
            assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-6), name
            assert record["label"] == max(probabilities, key=probabilities.get), name
            assert record["num_tokens"] >= 1, name
    return records


def run_cli(*args: str, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "textcnn", "predict", *args], input=input, capture_output=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def hostile_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "hostile.txt"
    path.write_bytes(hostile_file_bytes())
    return path


@pytest.fixture(scope="module")
def loaded_pipeline(tiny_model_dir) -> SentimentPipeline:
    pipeline = SentimentPipeline.from_pretrained(tiny_model_dir)
    pipeline.predict(["warm up the tokenizer"])
    return pipeline


# --- the process as a user runs it ------------------------------------------------------------------
def test_hostile_file_gets_one_record_per_line(tiny_model_dir, hostile_file):
    started = time.perf_counter()
    result = run_cli("--model", str(tiny_model_dir), str(hostile_file))
    elapsed = time.perf_counter() - started
    assert result.returncode == 1, result.stderr  # 1: some lines were empty
    check_records(result.stdout.decode())
    stderr = result.stderr.decode().splitlines()
    empty_lines = [n for n, (_, empty) in enumerate(HOSTILE_LINES.values(), 1) if empty]
    assert sorted(stderr) == sorted(
        [f"warning: line {n} is empty; wrote an error record for it" for n in empty_lines]
        + [f"warning: line {INVALID_UTF8_LINE} is not valid UTF-8; invalid bytes were replaced by U+FFFD"]
    )
    # start-up (torch, spaCy, the model) plus well under a second per line, on a shared 2-core CPU
    assert elapsed < 30 + len(HOSTILE_LINES), elapsed


def test_stdin_gives_the_same_records_as_a_file(tiny_model_dir, hostile_file):
    from_file = run_cli("--model", str(tiny_model_dir), str(hostile_file))
    from_stdin = run_cli("--model", str(tiny_model_dir), input=hostile_file_bytes())
    assert from_stdin.returncode == from_file.returncode == 1
    assert from_stdin.stdout == from_file.stdout
    assert from_stdin.stderr == from_file.stderr


@pytest.mark.parametrize("method", ["conv", "lookup-int8"])
def test_methods_give_the_same_records(tiny_model_dir, hostile_file, method):
    default = run_cli("--model", str(tiny_model_dir), str(hostile_file))  # lookup
    other = run_cli("--model", str(tiny_model_dir), "--method", method, str(hostile_file))
    assert default.returncode == other.returncode == 1
    for a, b in zip(check_records(default.stdout.decode()), check_records(other.stdout.decode())):
        assert a.keys() == b.keys()
        if "probabilities" in a:
            assert math.isclose(a["probabilities"]["pos"], b["probabilities"]["pos"], abs_tol=2e-2)


def test_unknown_method_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["predict", "--method", "fast"])
    assert exited.value.code == 2
    assert "argument --method: invalid choice: 'fast'" in capsys.readouterr().err


def test_reader_going_away_is_not_a_crash(tiny_model_dir, tmp_path):
    """``predict ... | head -1``: the CLI stops quietly when nobody reads its output any more."""
    reviews = tmp_path / "many.txt"
    reviews.write_text("a great film\n" * 20_000)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cli_process = subprocess.Popen(
        [sys.executable, "-m", "textcnn", "predict", "--model", str(tiny_model_dir), "--chunk-size", "100",
         str(reviews)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        json.loads(cli_process.stdout.readline())
        cli_process.stdout.close()
        stderr = cli_process.stderr.read().decode()
        assert cli_process.wait(timeout=120) == 141
    finally:
        cli_process.kill()
    assert stderr == ""


@pytest.mark.skipif(not BUNDLED_MODEL.is_dir(), reason="no bundled model yet (models/textcnn-imdb)")
def test_bundled_model_reads_clear_reviews_right():
    reviews = [
        "A wonderful, moving film. The performances are superb and I loved every minute of it.",
        "The worst movie I have seen in years: boring, badly acted and a complete waste of time.",
    ]
    result = run_cli(input="\n".join(reviews).encode())  # the default model; no final newline
    assert result.returncode == 0, result.stderr
    positive, negative = [json.loads(line)["probabilities"]["pos"] for line in result.stdout.splitlines()]
    assert positive > 0.5 > negative


# --- in process: each input, one at a time, against a model loaded once -----------------------------
def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    status = cli.main(["predict", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("name", list(HOSTILE_LINES))
def test_each_hostile_line_within_a_second(name, loaded_pipeline, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(SentimentPipeline, "from_pretrained", classmethod(lambda cls, *a, **k: loaded_pipeline))
    line, empty = HOSTILE_LINES[name]
    path = tmp_path / "one.txt"
    path.write_bytes(line + b"\n")
    started = time.perf_counter()
    status, out, err = run_main([str(path)], capsys)
    assert time.perf_counter() - started < 1.0
    assert status == (1 if empty else 0)
    (record,) = [json.loads(record) for record in out.splitlines()]
    assert ("error" in record) == empty
    if not empty:
        assert math.isclose(sum(record["probabilities"].values()), 1.0, abs_tol=1e-6)
    assert len(err.splitlines()) == int(empty) + int(name == "invalid UTF-8")


def test_line_endings_and_separators(loaded_pipeline, tmp_path, monkeypatch, capsys):
    """CRLF and LF files give the same records; a missing final newline still ends a line; \\r, U+2028,
    form feeds and the like stay inside their review; a UTF-8 byte order mark is not part of the text."""
    monkeypatch.setattr(SentimentPipeline, "from_pretrained", classmethod(lambda cls, *a, **k: loaded_pipeline))
    reviews = [b"a wonderful film", b"boring\rand dull", "awful\u2028mess".encode(), b"the plot\x0c\x0bwas great"]
    outputs = {}
    for name, data in {
        "lf": b"\n".join(reviews) + b"\n",
        "crlf": b"\r\n".join(reviews) + b"\r\n",
        "no final newline": b"\n".join(reviews),
        "byte order mark": b"\xef\xbb\xbf" + b"\n".join(reviews) + b"\n",
    }.items():
        path = tmp_path / f"{name}.txt"
        path.write_bytes(data)
        status, out, err = run_main([str(path)], capsys)
        assert (status, err) == (0, ""), name
        assert len(out.splitlines()) == len(reviews), name
        outputs[name] = out
    assert len(set(outputs.values())) == 1
    tokens_read = [json.loads(record)["num_tokens"] for record in outputs["lf"].splitlines()]
    assert tokens_read == [3, 3, 2, 4]  # the byte order mark did not glue itself to "a"


def test_records_keep_input_order_across_chunks_and_batches(loaded_pipeline, tmp_path, monkeypatch, capsys):
    """Predictions are batched by length; the records still come out in input order, one per line."""
    monkeypatch.setattr(SentimentPipeline, "from_pretrained", classmethod(lambda cls, *a, **k: loaded_pipeline))
    rng = random.Random(1)
    lines = [" ".join(rng.choices(["great", "dull", "film", "the"], k=rng.randint(0, 30))) for _ in range(300)]
    path = tmp_path / "mixed.txt"
    path.write_text("\n".join(lines) + "\n")
    status, out, _ = run_main(["--chunk-size", "7", "--batch-size", "5", str(path)], capsys)
    assert status == (1 if any(not line for line in lines) else 0)
    records = [json.loads(record) for record in out.splitlines()]
    assert len(records) == len(lines)
    expected = loaded_pipeline.predict([line for line in lines if line])
    predicted = [record for record in records if "error" not in record]
    assert [r["num_tokens"] for r in predicted] == [p.num_tokens for p in expected]
    for record, prediction in zip(predicted, expected):
        assert record["probabilities"] == pytest.approx(prediction.probabilities, abs=1e-5)
    assert [i for i, r in enumerate(records) if "error" in r] == [i for i, line in enumerate(lines) if not line]


def test_empty_input_is_no_records(loaded_pipeline, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(SentimentPipeline, "from_pretrained", classmethod(lambda cls, *a, **k: loaded_pipeline))
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert run_main([str(path)], capsys) == (0, "", "")


# --- what cannot work: one sentence on stderr, exit status 2 ----------------------------------------
def test_missing_model_folder_is_one_sentence(tmp_path, hostile_file, capsys):
    missing = tmp_path / "no-such-model"
    status, out, err = run_main(["--model", str(missing), str(hostile_file)], capsys)
    assert (status, out) == (2, "")
    assert err == f"error: There is no model folder {missing} and it is not a valid Hub repo id either.\n"


@pytest.mark.parametrize("kind, message", [("missing", "No such file or directory"), ("directory", "Is a directory")])
def test_unreadable_input_is_one_sentence(tiny_model_dir, tmp_path, capsys, monkeypatch, kind, message):
    monkeypatch.setattr(SentimentPipeline, "from_pretrained",
                        classmethod(lambda *a, **k: pytest.fail("the model was loaded before the input was opened")))
    path = tmp_path / "reviews.txt"
    if kind == "directory":
        path.mkdir()
    status, out, err = run_main(["--model", str(tiny_model_dir), str(path)], capsys)
    assert (status, out, err) == (2, "", f"error: cannot read {path}: {message}\n")


@pytest.mark.parametrize("flag", ["--batch-size", "--chunk-size"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_sizes_must_be_positive(flag, value, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["predict", flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}:" in capsys.readouterr().err
