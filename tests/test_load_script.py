"""scripts/load_test.py: its quick mode runs end to end against the tiny model and writes sane JSON; its
judging of answers is right (the load itself is measured by the full run, not here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import load_test  # noqa: E402


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "load_test.py"), *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_quick_run_serves_everything_and_writes_json(tiny_model_dir, tmp_path):
    out = tmp_path / "load.json"
    # quick mode checks the script, not the memory: 1 s of warm-up is too short for RSS to level off
    result = run_script("--quick", "--model", str(tiny_model_dir), "--output", str(out), "--max-rss-growth", "50")
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(out.read_text())
    assert record["quick"] is True and record["passed"] is True and record["failures"] == []
    assert record["config"]["users"] == 2 and record["command"].startswith("python scripts/load_test.py --quick")
    for phase in ("warmup", "load"):
        assert record[phase]["errors"] == 0, record[phase]["error_kinds"]
    load = record["load"]
    assert load["served"] == load["requests"] > 0 and load["requests_per_second"] > 0
    assert set(load["latency"]) == {"/predict", "/explain"}
    for summary in load["latency"].values():
        assert 0 < summary["median_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    rss = record["server_rss"]
    assert 0 < rss["before_mb"] and 0 < rss["after_mb"] and rss["during_load_mb"]
    burst = record["queue_burst"]
    assert burst["other_errors"] == [] and burst["answered"] + burst["refused_queue_full"] == burst["requests"] == 30
    assert record["server_alive_until_the_end"] and record["server_log"]["tracebacks"] == 0
    assert "unexpected errors: 0" in result.stdout and "| /predict |" in result.stdout


def test_an_app_that_cannot_start_is_one_message(tmp_path, monkeypatch, capsys):
    """The script's side of a failed start, in this process, with a stand-in for app.py that refuses its
    model as the real one does (tests/test_app_hub.py checks the real one's refusals)."""
    refusing_app = tmp_path / "app.py"
    refusing_app.write_text('import sys\nsys.exit("Cannot start the demo: There is no model folder /nowhere")\n')
    monkeypatch.setattr(load_test, "APP", refusing_app)
    monkeypatch.setattr(load_test.signal, "signal", lambda *args: None)  # the script's SIGTERM handler: not in pytest
    status = load_test.main(["--quick", "--model", "/nowhere", "--output", str(tmp_path / "x.json")])
    stderr = capsys.readouterr().err
    assert status == 2
    assert stderr.startswith("error: app.py exited with status 1:")
    assert "Cannot start the demo: There is no model folder /nowhere" in stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(
    "input_name, result, error, status",
    [
        ("IMDb review", {"label": "pos", "probabilities": {"neg": 0.25, "pos": 0.75}}, None, "ok"),
        ("IMDb review", {"label": "pos", "probabilities": {"neg": 0.5, "pos": 0.75}}, None, "error"),
        ("IMDb review", "not a dict", None, "error"),
        ("IMDb review", None, TimeoutError(), "error"),
        ("empty", None, RuntimeError("The review is empty: type some text."), "expected error"),
        ("whitespace only", {"label": "pos", "probabilities": {"neg": 0.5, "pos": 0.5}}, None, "error"),
        ("empty", None, RuntimeError("Queue is full! Please try again."), "error"),
    ],
)
def test_judging_answers(input_name, result, error, status):
    assert load_test.judge(input_name, result=result, error=error)[0] == status


def test_every_shared_hostile_input_is_sent():
    names = set(load_test.hostile_inputs())
    assert {"empty", "whitespace only", "single character", "only emoji", "only punctuation", "200 KB review",
            "one 100,000-character token", "NUL and control characters", "right-to-left and combining",
            "HTML and script", "non-English"} <= names
    stream = load_test.InputStream(["a review"], load_test.hostile_inputs())
    sent = {stream.next()[0] for _ in range(load_test.HOSTILE_EVERY * len(names))}
    assert sent == names | {"IMDb review"}


def test_failures_name_what_broke():
    record = {
        "load": {"errors": 2, "error_kinds": {"/predict IMDb review: hung": 2}},
        "warmup": {"errors": 0, "error_kinds": {}},
        "server_rss": {"growth_percent": 12.5},
        "server_alive_until_the_end": True,
        "server_log": {"tracebacks": 0, "first_traceback": ""},
        "queue_burst": {"other_errors": ["AppError: boom"]},
    }
    problems = load_test.failures(record, max_rss_growth=10)
    assert len(problems) == 3
    assert "2 requests failed unexpectedly" in problems[0] and "12.5%" in problems[1] and "boom" in problems[2]
    record["load"]["errors"], record["server_rss"]["growth_percent"], record["queue_burst"] = 0, 9.0, None
    assert load_test.failures(record, max_rss_growth=10) == []
