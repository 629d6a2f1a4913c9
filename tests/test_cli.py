"""The predict CLI (``python -m textcnn predict``) under hostile input: one JSON record per line, in
order, with bounded reads, and a clear message (never a traceback) for what it cannot do."""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from benchmarks import hostile
from textcnn import cli
from textcnn.methods import LARGE_INPUT_TEXTS
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


def run_cli(*args: str, input: bytes | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
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


@pytest.fixture(scope="module")
def from_file(tiny_model_dir, hostile_file) -> subprocess.CompletedProcess:
    """The CLI run on the hostile file with its defaults (a small input: the convolutions), shared by the tests."""
    return run_cli("--model", str(tiny_model_dir), str(hostile_file))


# --- the process as a user runs it ------------------------------------------------------------------
def test_hostile_file_gets_one_record_per_line(from_file):
    result = from_file
    assert result.returncode == 1, result.stderr  # 1: some lines were empty
    check_records(result.stdout.decode())
    stderr = result.stderr.decode().splitlines()
    empty_lines = [n for n, (_, empty) in enumerate(HOSTILE_LINES.values(), 1) if empty]
    assert sorted(stderr) == sorted(
        [f"warning: line {n} is empty; wrote an error record for it" for n in empty_lines]
        + [f"warning: line {INVALID_UTF8_LINE} is not valid UTF-8; invalid bytes were replaced by U+FFFD"]
    )


def run_in_process(argv: list[str], capsys, monkeypatch=None, stdin: bytes | None = None) -> tuple[int, str, str]:
    """``python -m textcnn predict *argv`` in this process: (exit status, stdout, stderr)."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    status = cli.main(["predict", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_stdin_gives_the_same_records_as_a_file(tiny_model_dir, from_file, capsys, monkeypatch):
    status, out, err = run_in_process(["--model", str(tiny_model_dir)], capsys, monkeypatch, stdin=hostile_file_bytes())
    assert status == from_file.returncode == 1
    assert out == from_file.stdout.decode()
    assert err == from_file.stderr.decode()


@pytest.mark.parametrize("method", ["lookup", "lookup-int8"])
def test_methods_give_the_same_records(tiny_model_dir, hostile_file, from_file, method, capsys, monkeypatch):
    default = from_file
    status, out, _ = run_in_process(["--model", str(tiny_model_dir), "--method", method, str(hostile_file)], capsys,
                                    monkeypatch)
    assert default.returncode == status == 1
    for a, b in zip(check_records(default.stdout.decode()), check_records(out)):
        assert a.keys() == b.keys()
        if "probabilities" in a:
            assert math.isclose(a["probabilities"]["pos"], b["probabilities"]["pos"], abs_tol=2e-2)


def test_without_a_model_or_a_bundled_one_the_cli_says_what_to_pass(monkeypatch, tmp_path, capsys):
    """An installed package has no models/ folder: no --model is one sentence, not a Hub error about a path."""
    import textcnn.pipeline

    monkeypatch.setattr(textcnn.pipeline, "BUNDLED_MODEL", tmp_path / "models" / "textcnn-imdb")
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("a great film\n")
    assert cli.main(["predict", str(reviews)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no model was given") and "pass a model folder or a Hub repo id" in error
    assert len(error.strip().splitlines()) == 1


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
        assert cli_process.wait(timeout=900) == 141
    finally:
        cli_process.kill()
    assert stderr == ""


@pytest.mark.skipif(not BUNDLED_MODEL.is_dir(), reason="no bundled model yet (models/textcnn-imdb)")
def test_bundled_model_reads_clear_reviews_right(capsys, monkeypatch):
    reviews = [
        "A wonderful, moving film. The performances are superb and I loved every minute of it.",
        "The worst movie I have seen in years: boring, badly acted and a complete waste of time.",
    ]
    # the default model; no final newline
    status, out, err = run_in_process([], capsys, monkeypatch, stdin="\n".join(reviews).encode())
    assert status == 0, err
    positive, negative = [json.loads(line)["probabilities"]["pos"] for line in out.splitlines()]
    assert positive > 0.5 > negative


# --- in process: each input, one at a time, against a model loaded once -----------------------------
@pytest.mark.parametrize("name", list(HOSTILE_LINES))
def test_each_hostile_line_alone(name, loaded_pipeline, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(SentimentPipeline, "from_pretrained", classmethod(lambda cls, *a, **k: loaded_pipeline))
    line, empty = HOSTILE_LINES[name]
    path = tmp_path / "one.txt"
    path.write_bytes(line + b"\n")
    status, out, err = run_in_process([str(path)], capsys)
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
        status, out, err = run_in_process([str(path)], capsys)
        assert (status, err) == (0, ""), name
        assert len(out.splitlines()) == len(reviews), name
        outputs[name] = out
    assert len(set(outputs.values())) == 1
    tokens_read = [json.loads(record)["num_tokens"] for record in outputs["lf"].splitlines()]
    # the byte order mark did not glue itself to "a"; each line ends with the full stop it was typed without
    assert tokens_read == [4, 4, 3, 5]


def test_records_keep_input_order_across_chunks_and_batches(loaded_pipeline, tmp_path, monkeypatch, capsys):
    """Predictions are batched by length; the records still come out in input order, one per line."""
    monkeypatch.setattr(SentimentPipeline, "from_pretrained", classmethod(lambda cls, *a, **k: loaded_pipeline))
    rng = random.Random(1)
    lines = [" ".join(rng.choices(["great", "dull", "film", "the"], k=rng.randint(0, 30))) for _ in range(300)]
    path = tmp_path / "mixed.txt"
    path.write_text("\n".join(lines) + "\n")
    status, out, _ = run_in_process(["--chunk-size", "7", "--batch-size", "5", str(path)], capsys)
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
    assert run_in_process([str(path)], capsys) == (0, "", "")


# --- what cannot work: one sentence on stderr, exit status 2 ----------------------------------------
def test_missing_model_folder_is_one_sentence(tmp_path, hostile_file, capsys):
    missing = tmp_path / "no-such-model"
    status, out, err = run_in_process(["--model", str(missing), str(hostile_file)], capsys)
    assert (status, out) == (2, "")
    assert err == f"error: There is no model folder {missing} and it is not a valid Hub repo id either.\n"


@pytest.mark.parametrize("kind, message", [("missing", "No such file or directory"), ("directory", "Is a directory")])
def test_unreadable_input_is_one_sentence(tiny_model_dir, tmp_path, capsys, monkeypatch, kind, message):
    monkeypatch.setattr(SentimentPipeline, "from_pretrained",
                        classmethod(lambda *a, **k: pytest.fail("the model was loaded before the input was opened")))
    path = tmp_path / "reviews.txt"
    if kind == "directory":
        path.mkdir()
    status, out, err = run_in_process(["--model", str(tiny_model_dir), str(path)], capsys)
    assert (status, out, err) == (2, "", f"error: cannot read {path}: {message}\n")


@pytest.mark.parametrize("flag", ["--batch-size", "--chunk-size", "--workers", "--threads"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_sizes_must_be_positive(flag, value, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["predict", flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}:" in capsys.readouterr().err


# --- the computation fits the input -------------------------------------------------------------------
def loaded_with(monkeypatch, pipeline: SentimentPipeline) -> list[dict]:
    """Make ``from_pretrained`` return ``pipeline``; the list collects the options each call asked for."""
    calls: list[dict] = []

    def load(cls, *args, **kwargs):
        calls.append(kwargs)
        return pipeline

    monkeypatch.setattr(SentimentPipeline, "from_pretrained", classmethod(load))
    return calls


@pytest.mark.parametrize("lines, method, workers", [
    (5, "conv", 1),  # a few lines: no lookup table, no worker processes
    (LARGE_INPUT_TEXTS - 1, "conv", 1),
    (LARGE_INPUT_TEXTS, "lookup", min(2, os.cpu_count() or 1)),
])
def test_method_and_workers_follow_the_input_size(lines, method, workers, loaded_pipeline, tmp_path, monkeypatch,
                                                  capsys):
    calls = loaded_with(monkeypatch, loaded_pipeline)
    path = tmp_path / "reviews.txt"
    path.write_text("a great film\n" * lines)
    status, out, _ = run_in_process([str(path)], capsys)
    assert status == 0 and len(out.splitlines()) == lines
    assert [(call["method"], call["workers"]) for call in calls] == [(method, workers)]


def test_stdin_is_sized_by_reading_ahead(loaded_pipeline, monkeypatch, capsys):
    calls = loaded_with(monkeypatch, loaded_pipeline)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"great\nawful\n")))
    status, out, _ = run_in_process([], capsys)
    assert status == 0 and len(out.splitlines()) == 2
    assert [(call["method"], call["workers"]) for call in calls] == [("conv", 1)]


def test_explicit_method_workers_and_threads_win(loaded_pipeline, tmp_path, monkeypatch, capsys):
    import torch

    calls = loaded_with(monkeypatch, loaded_pipeline)
    path = tmp_path / "reviews.txt"
    path.write_text("a great film\n" * 3)
    threads = torch.get_num_threads()
    try:
        run_in_process(["--method", "lookup-int8", "--workers", "3", "--threads", "1", str(path)], capsys)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert [(call["method"], call["workers"]) for call in calls] == [("lookup-int8", 3)]


# --- a line's length is bounded -----------------------------------------------------------------------
class RecordingStream(io.BytesIO):
    """A byte stream that remembers the most bytes one ``readline`` returned."""

    largest_read = 0

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.largest_read = max(self.largest_read, len(data))
        return data


def test_long_lines_are_cut_and_read_in_bounded_pieces():
    stream = RecordingStream(b"x" * 5_000 + b" tail\nshort\n" + b"\0" * 20_000)  # the last without "\n"
    cut: list[tuple[int, int]] = []  # (line number, bytes read when told)
    lines = list(cli.read_lines(stream, max_bytes=1_000, on_cut=lambda number: cut.append((number, stream.tell()))))
    assert [(line.number, line.text, line.cut) for line in lines] == [
        (1, "x" * 1_000, True), (2, "short", False), (3, "\0" * 1_000, True)]
    assert stream.largest_read <= 1_001
    # told at once, before the rest of the line is read: a line that never ends still gets its warning
    assert cut == [(1, 1_001), (3, len(b"x" * 5_000 + b" tail\nshort\n") + 1_001)]


def test_a_line_without_end_is_read_in_bounded_memory():
    """``predict /dev/zero``: a line that never ends costs the bound, not the input's size."""
    stream = io.BytesIO(b"\0" * 20_000_000 + b"\n")
    tracemalloc.start()
    try:
        (line,) = cli.read_lines(stream, max_bytes=100_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert line.cut and len(line.text) == 100_000
    assert peak < 1_000_000  # a few copies of the bound, not 20 MB


@pytest.mark.parametrize("data, text, cut", [
    (b"y" * 10 + b"\r\n", "y" * 10, False),  # only the line end falls past the bound
    (b"y" * 10 + b"\n", "y" * 10, False),
    (b"y" * 11 + b"\n", "y" * 10, True),
    ("é".encode() * 6 + b"\n", "é" * 5, True),  # the cut splits a character: it is dropped, not replaced
])
def test_the_cut_is_exact(data, text, cut):
    (line,) = cli.read_lines(io.BytesIO(data), max_bytes=10 if not data.startswith("é".encode()) else 11)
    assert (line.text, line.cut, line.invalid_utf8) == (text, cut, False)


def test_a_long_line_gets_a_warning_and_says_truncated(loaded_pipeline, tmp_path, monkeypatch, capsys):
    loaded_with(monkeypatch, loaded_pipeline)
    monkeypatch.setattr(cli, "MAX_LINE_BYTES", 64)
    path = tmp_path / "long.txt"
    path.write_bytes(b"great film " * 3 + b"\n" + b"great " * 100 + b"\n" + b" " * 100 + b"great\n")
    status, out, err = run_in_process([str(path)], capsys)
    short, long, blank = [json.loads(record) for record in out.splitlines()]
    assert short["truncated"] is False and long["truncated"] is True
    assert long["num_tokens"] == len((b"great " * 100)[:64].split()) + 1  # and the full stop it lacks
    assert blank == {"error": "line 3 holds no text in its first 64 bytes: nothing to classify"}
    assert status == 1
    assert err.splitlines() == [
        "warning: line 2 is longer than 64 bytes; only its first 64 bytes are classified (its record says truncated)",
        "warning: line 3 is longer than 64 bytes; only its first 64 bytes are classified (its record says truncated)",
        "warning: line 3 holds no text in its first 64 bytes; wrote an error record for it",
    ]


def test_read_ahead_stops_at_a_byte_bound_too():
    lines = (cli.Line(number, "x" * 100, False, False) for number in itertools.count(1))
    head, ended = cli.read_ahead(lines, max_lines=1_000, max_bytes=1_000)
    assert (len(head), ended) == (10, False)  # a few long lines are not held a thousand at a time
    head, ended = cli.read_ahead(iter(head[:3]), max_lines=1_000, max_bytes=1_000)
    assert (len(head), ended) == (3, True)
