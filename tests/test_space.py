"""``textcnn space``: a Gradio Space that serves a pushed model at one commit, against the fake Hub
(tests/fake_hub.py, behind huggingface_hub's real client), and the app started from a written Space folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from importlib.metadata import PackageNotFoundError, distribution, packages_distributions

import pytest
from huggingface_hub import SpaceCard, constants
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app_server import free_port
from fake_hub import FakeHubWithSpaces, installed
from test_hub import REVIEWS, VOCABULARY, make_model, model_dir, no_token, publish, save_folder  # noqa: F401 (fixtures)
from textcnn import cli
from textcnn.hub import MODEL_FILES, PICKLE_SUFFIXES, resolve_model_folder
from textcnn.pipeline import SentimentPipeline
from textcnn.space import CPU_TORCH_INDEX, SpaceError, check_commit, space_requirements, space_variables

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_SOURCES = {f"textcnn/{p.name}": p.read_bytes() for p in (REPO_ROOT / "textcnn").glob("*.py")}


@pytest.fixture
def hub(monkeypatch, tmp_path, no_token) -> FakeHubWithSpaces:
    """The fake Hub (with Spaces), an empty cache, and a write token in HF_TOKEN."""
    with installed(FakeHubWithSpaces(), monkeypatch, tmp_path / "hub-cache") as fake:
        yield fake


@pytest.fixture
def pushed(hub, model_dir, tmp_path) -> tuple[str, str]:
    """me/tiny with two commits: the model of seed 0 (returned, with its commit), then one of seed 1."""
    first = publish(hub, "me/tiny", model_dir)
    publish(hub, "me/tiny", save_folder(make_model(seed=1), tmp_path / "later"))
    return "me/tiny", first


def space(*args: str) -> int:
    return cli.main(["space", *args])


def front_matter(readme: bytes) -> dict:
    return SpaceCard(readme.decode()).data.to_dict()


# --- what the Space holds -------------------------------------------------------------------

@pytest.mark.parametrize("revision", ["main", "v1", "0" * 39, "0" * 41, "A" * 40, ""])
def test_a_revision_that_is_not_a_full_commit_hash_is_refused_in_one_sentence(hub, revision, capsys):
    assert space("me/demo", "--model", "me/tiny", "--revision", revision) == 1
    message = capsys.readouterr().err
    assert message.startswith("error: --revision must be a full commit hash") and message.count("\n") == 1
    assert message.rstrip().endswith("never deployed.") and message.count(". ") == 0
    assert hub.requests == []  # refused before anything is asked of the Hub
    with pytest.raises(SpaceError):
        check_commit(revision)


def test_the_space_requirements_take_torch_from_the_cpu_index_and_keep_every_other_pin():
    serving = (REPO_ROOT / "requirements.txt").read_text()
    pins = [line for line in serving.splitlines() if line and not line.startswith(("#", "-"))]
    written = space_requirements(serving).splitlines()
    assert f"--extra-index-url {CPU_TORCH_INDEX}" in written
    assert CPU_TORCH_INDEX == "https://download.pytorch.org/whl/cpu"
    (torch_pin,) = [pin for pin in pins if pin.startswith("torch==")]
    assert f"{torch_pin}+cpu" in written and torch_pin not in written
    assert set(pins) - {torch_pin} <= set(written)
    requirements = [line for line in written if line and not line.startswith("#")]
    assert len(requirements) == len(pins) + 1  # the index, then one line per pin: no `-e .`, nothing else
    # a pin that already names a build is replaced, not doubled
    assert "torch==2.13.0+cpu" in space_requirements("torch==2.13.0+cu128\n").splitlines()


def test_deploy_creates_the_space_sets_its_variables_and_commits_once(hub, pushed, capsys, tmp_path):
    model_id, commit = pushed
    assert space("me/demo", "--model", model_id, "--revision", commit) == 0
    assert capsys.readouterr().out.strip() == "https://huggingface.co/spaces/me/demo"
    assert hub.space_sdks == {"me/demo": "gradio"}
    assert hub.variables["me/demo"] == {"TEXTCNN_MODEL": model_id, "TEXTCNN_REVISION": commit}
    assert hub.space_commit_messages("me/demo") == ["initial commit", f"Serve {model_id} at {commit}"]

    files = hub.space_files("me/demo")
    assert files["app.py"] == (REPO_ROOT / "app.py").read_bytes()
    assert {path: data for path, data in files.items() if path.startswith("textcnn/")} == PACKAGE_SOURCES
    assert files["requirements.txt"].decode() == space_requirements((REPO_ROOT / "requirements.txt").read_text())
    # no weights, nor anything else of the model: those come from the Hub at the commit
    assert not [path for path in files if path.endswith((".safetensors", *PICKLE_SUFFIXES)) or path.startswith("models/")]
    assert set(files) == {".gitattributes", "app.py", "requirements.txt", "README.md", *PACKAGE_SOURCES}

    config = front_matter(files["README.md"])
    assert config["sdk"] == "gradio" and config["app_file"] == "app.py"
    assert config["sdk_version"] == next(line.split("==")[1] for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
                                         if line.startswith("gradio"))
    assert config["models"] == [model_id]
    repo_files = [name for name in MODEL_FILES if name in hub.files(model_id, commit)]
    assert config["preload_from_hub"] == [f"{model_id} {','.join(repo_files)} {commit}"]

    # the folder --out writes is what was committed
    assert space("me/demo", "--model", model_id, "--revision", commit, "--out", str(tmp_path / "out")) == 0
    written = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert written == {path: data for path, data in files.items() if path != ".gitattributes"}


def test_an_update_is_one_more_commit_that_replaces_the_generated_files(hub, pushed, model_dir, tmp_path):
    model_id, first = pushed
    assert space("me/demo", "--model", model_id, "--revision", first) == 0
    hub.add_commit(hub.space_key("me/demo"), {**hub.space_files("me/demo"), "textcnn/removed_module.py": b"x = 1\n"},
                   message="an older deployment")
    latest = hub.repos[model_id].refs["main"]
    assert space("me/demo", "--model", model_id, "--revision", latest) == 0
    assert hub.space_commit_messages("me/demo")[-1] == f"Serve {model_id} at {latest}"
    assert len(hub.space_commit_messages("me/demo")) == 4
    files = hub.space_files("me/demo")
    assert "textcnn/removed_module.py" not in files and ".gitattributes" in files
    assert hub.variables["me/demo"] == {"TEXTCNN_MODEL": model_id, "TEXTCNN_REVISION": latest}
    assert front_matter(files["README.md"])["preload_from_hub"][0].endswith(f" {latest}")


@pytest.mark.parametrize("extra, drop, message", [
    ({"pytorch_model.bin": b"\x80\x02"}, None, "contains pickle files (pytorch_model.bin)"),
    ({}, "model.safetensors", "is not a textcnn model: it has no model.safetensors"),
])
def test_a_model_the_app_would_refuse_is_not_deployed(hub, model_dir, capsys, extra, drop, message):
    files = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.name != drop}
    commit = hub.add_commit("me/tiny", {**files, **extra})
    assert space("me/demo", "--model", "me/tiny", "--revision", commit) == 1
    assert message in capsys.readouterr().err
    assert hub.space_key("me/demo") not in hub.repos


def test_a_commit_the_model_repo_lacks_is_refused(hub, pushed, capsys):
    assert space("me/demo", "--model", pushed[0], "--revision", "f" * 40) == 1
    assert f"The model repo me/tiny has no commit {'f' * 40}." in capsys.readouterr().err
    assert hub.space_key("me/demo") not in hub.repos


def test_without_a_token_nothing_is_asked_of_the_hub(hub, pushed, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    hub.requests.clear()
    assert space("me/demo", "--model", pushed[0], "--revision", pushed[1]) == 1
    assert "needs a token with write access" in capsys.readouterr().err
    assert hub.requests == []


def test_a_failed_commit_says_to_rerun_and_the_rerun_deploys(hub, pushed, capsys):
    model_id, commit = pushed
    hub.fail["commit"] = 500
    assert space("me/demo", "--model", model_id, "--revision", commit) == 1
    assert capsys.readouterr().err.rstrip().endswith("running the same command again finishes it.")
    assert hub.space_commit_messages("me/demo") == ["initial commit"]
    del hub.fail["commit"]
    assert space("me/demo", "--model", model_id, "--revision", commit) == 0
    assert hub.space_commit_messages("me/demo") == ["initial commit", f"Serve {model_id} at {commit}"]
    assert "app.py" in hub.space_files("me/demo")


def test_out_never_writes_over_an_existing_folder(hub, pushed, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert space("me/demo", "--model", pushed[0], "--revision", pushed[1], "--out", str(tmp_path / "mine")) == 1
    assert "is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    assert hub.space_key("me/demo") not in hub.repos  # --out uploads nothing


# --- the Space folder runs ------------------------------------------------------------------

def pins(name: str) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in (REPO_ROOT / name).read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith(("-", "."))]


def training_only_modules() -> list[str]:
    """Modules of the training and test pins that the Space's requirements do not install (with their dependencies)."""
    needed, todo = set(), pins("requirements.txt")
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), tuple(sorted(requirement.extras)))
        if key in needed:
            continue
        needed.add(key)
        try:
            requires = distribution(requirement.name).requires or []
        except PackageNotFoundError:
            continue
        for line in requires:
            dependency = Requirement(line)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": extra})
                                                for extra in ("", *requirement.extras)):
                todo.append(dependency)
    installed = {name for name, _ in needed}
    extra = {canonicalize_name(r.name) for r in pins("requirements-train.txt") + pins("requirements-test.txt")} - installed
    return sorted(module for module, dists in packages_distributions().items()
                  if {canonicalize_name(d) for d in dists} <= extra)


def wait_for(url: str, process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited with status {process.returncode}:\n{process.stderr.read()}")
        try:
            with urllib.request.urlopen(f"{url}/gradio_api/info", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the app did not answer at {url} within {timeout} s")


def test_the_space_folder_serves_the_pinned_commit_from_the_hub_cache(hub, pushed, tmp_path):
    """app.py from the written folder, with the Space's variables, offline: the weights of that commit."""
    from gradio_client import Client

    model_id, commit = pushed
    out = tmp_path / "space"
    assert space("me/demo", "--model", model_id, "--revision", commit, "--out", str(out)) == 0
    resolve_model_folder(model_id, commit)  # the cache as the Space's preload leaves it
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "HF_TOKEN")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": constants.HF_HUB_CACHE, "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", **space_variables(model_id, commit)}
    # `python app.py` in the folder (its own textcnn/ first on the path), where what only training needs
    # cannot be imported: the Space installs the serving requirements alone
    blocked = training_only_modules()
    assert {"datasets", "pytest"} <= set(blocked)
    launcher = ("import runpy, sys; sys.modules.update(dict.fromkeys(sys.argv[1:])); sys.argv[1:] = []; "
                "runpy.run_path('app.py', run_name='__main__')")
    process = subprocess.Popen([sys.executable, "-c", launcher, *blocked], cwd=out, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url, process)
        served = Client(url, verbose=False).predict(REVIEWS[0], api_name="/predict")
    finally:
        process.terminate()
        process.wait(timeout=30)
    expected = SentimentPipeline(make_model(seed=0), VOCABULARY).predict([REVIEWS[0]])[0].probabilities
    later = SentimentPipeline(make_model(seed=1), VOCABULARY).predict([REVIEWS[0]])[0].probabilities
    served_in_label_order = [served["probabilities"][name] for name in ("negative", "positive")]  # the page's names
    assert served_in_label_order == pytest.approx(list(expected.values()), abs=1e-6)
    assert served_in_label_order != pytest.approx(list(later.values()), abs=1e-6)  # the commit deployed, not the latest
