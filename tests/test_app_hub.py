"""The demo and untrusted weights: a Hub model is served only at a pinned revision, and a model that
the loader refuses (pickles, weights that disagree with the config) stops the app at start-up.

The Hub is the fake of tests/fake_hub.py, behind huggingface_hub's real download code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app_server import free_port, import_app
from test_hub import corrupt_missing_weight, corrupt_pickle_file, hub, make_model, model_dir, no_token, probabilities, publish, save_folder  # noqa: F401 (fixtures)
from textcnn.hub import ModelLoadError

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def app(tiny_model_dir):
    return import_app(tiny_model_dir)


def test_hub_model_without_a_revision_is_refused_before_any_download(app, hub, model_dir):
    publish(hub, "me/tiny", model_dir)
    hub.requests.clear()
    with pytest.raises(ModelLoadError) as raised:
        app.load_pipeline("me/tiny", None)
    assert str(raised.value) == (
        "There is no model folder me/tiny, and the demo serves a Hub model only at a pinned revision: "
        "pass --revision <commit> (or set TEXTCNN_REVISION) to serve me/tiny from the Hub."
    )
    assert hub.requests == []


def test_a_pinned_commit_is_served_whatever_was_pushed_since(app, hub, model_dir, tmp_path, caplog):
    first = publish(hub, "me/tiny", model_dir)
    publish(hub, "me/tiny", save_folder(make_model(seed=1), tmp_path / "pushed-later"))
    with caplog.at_level("WARNING"):
        pipeline = app.load_pipeline("me/tiny", first)
    assert probabilities(pipeline.model) == probabilities(make_model(seed=0))
    assert caplog.records == []


def test_a_branch_is_served_with_a_warning_that_names_its_commit(app, hub, model_dir, tmp_path, caplog):
    publish(hub, "me/tiny", model_dir)
    latest = publish(hub, "me/tiny", save_folder(make_model(seed=1), tmp_path / "latest"))
    with caplog.at_level("WARNING"):
        pipeline = app.load_pipeline("me/tiny", "main")
    assert probabilities(pipeline.model) == probabilities(make_model(seed=1))
    assert "main, which is a branch or tag and can move" in caplog.text
    assert f"--revision {latest}" in caplog.text


def test_a_local_folder_needs_no_revision(app, model_dir, caplog):
    with caplog.at_level("WARNING"):
        pipeline = app.load_pipeline(str(model_dir), None)
    assert probabilities(pipeline.model) == probabilities(make_model(seed=0))
    assert caplog.records == []


def pickle_beside_the_weights(folder: Path) -> str:
    corrupt_pickle_file(folder)
    return "contains pickle files (pytorch_model.bin)"


def weights_missing_a_tensor(folder: Path) -> str:
    corrupt_missing_weight(folder)
    return "does not match its config.json (missing head.bias)"


def refused_source(model_dir: Path, corrupt) -> tuple[str, str]:
    """(what the app is asked to serve, what its message must say)."""
    if corrupt is None:  # a Hub repo id without --revision
        return "me/tiny", "the demo serves a Hub model only at a pinned revision"
    return str(model_dir), corrupt(model_dir)


@pytest.mark.parametrize("corrupt", [pickle_beside_the_weights, weights_missing_a_tensor, None])
def test_the_app_does_not_start_on_a_refused_model(model_dir, tmp_path, corrupt, monkeypatch):
    """``app.py`` run as a script stops with one sentence before it builds the page or listens.

    Run in this process (``runpy``, as ``python app.py`` runs it), so each case costs no interpreter
    start; the test below checks what a user sees of one of them from a real process.
    """
    import runpy

    from textcnn import serving

    source, message = refused_source(model_dir, corrupt)
    monkeypatch.setattr(sys, "argv", ["app.py", "--model", source])
    monkeypatch.delenv("TEXTCNN_REVISION", raising=False)
    monkeypatch.setattr(serving, "launch", lambda *args, **kwargs: pytest.fail("a refused model was served"))
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(REPO_ROOT / "app.py"), run_name="__main__")
    assert isinstance(stopped.value.code, str) and stopped.value.code.startswith("Cannot start the demo: ")
    assert message in stopped.value.code and "\n" not in stopped.value.code


def test_a_refused_model_is_one_line_on_stderr_and_status_1(model_dir, tmp_path):
    """``python app.py``: one line on stderr and exit status 1, before it listens; no Hub request (offline)."""
    source, message = refused_source(model_dir, pickle_beside_the_weights)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache"),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(free_port()),
           "GRADIO_ANALYTICS_ENABLED": "False", "TEXTCNN_REVISION": ""}
    result = subprocess.run([sys.executable, str(REPO_ROOT / "app.py"), "--model", source], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 1
    assert result.stderr.startswith("Cannot start the demo: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Running on" not in result.stdout
