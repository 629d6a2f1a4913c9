"""Saving, loading and pushing models: folders, Hub repos (a fake Hub at the HTTP boundary), train.py.

The fake (tests/fake_hub.py) replaces only the HTTP client huggingface_hub sends its requests
through; snapshot_download, the cache, HF_HUB_OFFLINE, create_repo/create_branch/create_commit are
the real library code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
import torch
from huggingface_hub import ModelCard, constants, set_client_factory
from huggingface_hub.utils._http import default_client_factory
from safetensors.torch import load_file, save_file

from fake_hub import READ_TOKEN, TOKEN, FakeHub
from textcnn import cli
from textcnn.hub import (
    CARD,
    CONFIG,
    FILTER_NGRAMS,
    MODEL_FILES,
    VOCAB,
    WEIGHTS,
    ModelLoadError,
    PushError,
    check_push_prerequisites,
    push_model_folder,
    save_model_folder,
    stage_upload,
)
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.pipeline import SentimentPipeline
from textcnn.vocab import PAD, UNK

REPO_ROOT = Path(__file__).resolve().parent.parent
REVIEWS = ["a wonderful, moving film", "boring. a dull mess and a waste", "the plot", "superb actors but the worst story"]


def make_model(seed: int = 0, with_ngrams: bool = True) -> TextCNN:
    torch.manual_seed(seed)
    tokens = [PAD, UNK, "a", "wonderful", "moving", "film", "boring", "dull", "mess", "waste", "the", "plot", ".", ","]
    config = TextCNNConfig(vocab_size=len(tokens), embedding_dim=8, filter_widths=(2, 3), num_filters=4, max_tokens=50)
    model = TextCNN(config).eval()
    model.vocab_tokens = tokens
    if with_ngrams:
        model.filter_ngrams = [[{"ngram": f"ngram {f}", "activation": 1.0}] for f in range(config.num_features)]
    return model


def probabilities(model: TextCNN) -> list[dict[str, float]]:
    return [p.probabilities for p in SentimentPipeline(model).predict(REVIEWS)]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A complete model folder with metrics, as train.py writes it (its model's seed is 0)."""
    metrics = {"test_accuracy": 0.75, "examples": {"test": 4}, "dry_run": True}
    return save_model_folder(make_model(), tmp_path / "model", extra_files={"metrics.json": json.dumps(metrics).encode()})


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))


@pytest.fixture
def hub(monkeypatch, tmp_path, no_token) -> FakeHub:
    """The fake Hub behind huggingface_hub's HTTP client, an empty cache, and a write token in HF_TOKEN."""
    fake = FakeHub()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    set_client_factory(fake.client)
    yield fake
    set_client_factory(default_client_factory)


def publish(hub: FakeHub, repo_id: str, folder: Path, branch: str = "main", **extra: bytes) -> str:
    return hub.add_commit(repo_id, {**{p.name: p.read_bytes() for p in folder.iterdir()}, **extra}, branch=branch)


# --- folders ------------------------------------------------------------------------------

@pytest.mark.parametrize("save", ["save_model_folder", "save_pretrained"])
def test_folder_round_trip_predicts_identically(tmp_path, save):
    model = make_model()
    if save == "save_model_folder":
        save_model_folder(model, tmp_path / "m")
    else:
        model.save_pretrained(tmp_path / "m")
    assert {WEIGHTS, CONFIG, VOCAB, FILTER_NGRAMS, CARD} <= set(p.name for p in (tmp_path / "m").iterdir())
    loaded = TextCNN.from_pretrained(tmp_path / "m")
    ids = torch.tensor([[2, 3, 4, 5, 0], [6, 7, 8, 0, 0]])
    assert torch.equal(loaded(ids), model(ids))
    assert probabilities(loaded) == probabilities(model)
    assert loaded.vocab_tokens == model.vocab_tokens and loaded.filter_ngrams == model.filter_ngrams
    assert loaded.config == model.config and not loaded.training
    loaded.save_pretrained(tmp_path / "again")  # a loaded model saves back the same way
    assert probabilities(TextCNN.from_pretrained(tmp_path / "again")) == probabilities(model)


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    # copies: load_file maps the file, which the corruptions below then overwrite
    return {name: tensor.clone() for name, tensor in load_file(folder / WEIGHTS).items()}


def corrupt_pickle_file(folder: Path) -> None:
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04 not really loaded")


def corrupt_weights_as_pickle(folder: Path) -> None:
    torch.save(read_weights(folder), folder / WEIGHTS)


def corrupt_weights_garbage(folder: Path) -> None:
    (folder / WEIGHTS).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")


def corrupt_extra_weight(folder: Path) -> None:
    save_file({**read_weights(folder), "extra.weight": torch.zeros(2)}, folder / WEIGHTS)


def corrupt_missing_weight(folder: Path) -> None:
    save_file({k: v for k, v in read_weights(folder).items() if k != "head.bias"}, folder / WEIGHTS)


def edit_config(**changes):
    def corrupt(folder: Path) -> None:
        config = json.loads((folder / CONFIG).read_text())
        (folder / CONFIG).write_text(json.dumps({**config, **changes}))
    return corrupt


def corrupt_vocab_size(folder: Path) -> None:
    tokens = json.loads((folder / VOCAB).read_text())["tokens"]
    (folder / VOCAB).write_text(json.dumps({"tokens": tokens + ["extra"]}))


def corrupt_ngrams(folder: Path) -> None:
    (folder / FILTER_NGRAMS).write_text("[[]]")


def remove(name: str):
    return lambda folder: (folder / name).unlink()


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (corrupt_pickle_file, "contains pickle files (pytorch_model.bin)"),
        (corrupt_weights_as_pickle, "is a pickle (torch.save) file"),
        (corrupt_weights_garbage, "is not a valid safetensors file"),
        (corrupt_extra_weight, "does not match its config.json (unexpected extra.weight)"),
        (corrupt_missing_weight, "does not match its config.json (missing head.bias)"),
        (edit_config(num_filters=5), "convs.0.weight is (4, 8, 2), config says (5, 8, 2)"),
        (edit_config(hidden_layers=2), "invalid config.json"),
        (edit_config(filter_widths=[0]), "invalid config.json"),
        (corrupt_vocab_size, "vocab.json has 15 tokens but config.json says vocab_size=14"),
        (corrupt_ngrams, "filter_ngrams.json does not describe the 8 filters"),
        (remove(VOCAB), "has no vocab.json"),
        (remove(WEIGHTS), "has no model.safetensors"),
    ],
)
def test_bad_folders_are_refused_in_one_sentence(model_dir, corrupt, message, monkeypatch):
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load (unpickling) was called"))
    corrupt(model_dir)
    with pytest.raises(ModelLoadError) as raised:
        TextCNN.from_pretrained(model_dir)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_loading_is_always_strict(model_dir):
    with pytest.raises(ValueError, match="strictly"):
        TextCNN.from_pretrained(model_dir, strict=False)


@pytest.mark.parametrize(
    "source, message",
    [
        ("./no/such/folder", "There is no model folder ./no/such/folder and it is not a valid Hub repo id"),
        ("bad id!", "not a valid Hub repo id"),
    ],
)
def test_neither_folder_nor_repo_id(source, message):
    with pytest.raises(ModelLoadError, match=message):
        TextCNN.from_pretrained(source)


# --- loading from the Hub -------------------------------------------------------------------

def test_hub_round_trip_and_cache(hub, model_dir):
    publish(hub, "me/tiny", model_dir)
    model = TextCNN.from_pretrained("me/tiny")
    assert probabilities(model) == probabilities(make_model())
    assert Path(model.source_folder).is_relative_to(constants.HF_HUB_CACHE)
    # a second load is answered from the cache: only the revision is resolved, no file is fetched again
    hub.requests.clear()
    TextCNN.from_pretrained("me/tiny")
    assert not [r for r in hub.requests if "/resolve/" in r]


def test_offline_uses_the_cache_and_sends_nothing(hub, model_dir, monkeypatch):
    sha = publish(hub, "me/tiny", model_dir)
    TextCNN.from_pretrained("me/tiny")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.requests.clear()
    for revision in (None, sha):
        assert probabilities(TextCNN.from_pretrained("me/tiny", revision=revision)) == probabilities(make_model())
    with pytest.raises(ModelLoadError, match=r"me/other is not in the Hub cache \(.*\) and HF_HUB_OFFLINE is set"):
        TextCNN.from_pretrained("me/other")
    assert hub.requests == []


def test_no_network_falls_back_to_the_cache(hub, model_dir):
    publish(hub, "me/tiny", model_dir)
    TextCNN.from_pretrained("me/tiny")

    def unreachable(request):
        raise httpx2.ConnectError("[Errno -2] Name or service not known", request=request)

    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(unreachable)))
    assert probabilities(TextCNN.from_pretrained("me/tiny")) == probabilities(make_model())
    with pytest.raises(ModelLoadError, match=r"me/other is not in the Hub cache .* the Hub cannot be reached \(.*Name or service"):
        TextCNN.from_pretrained("me/other")


def test_revision_pins_a_commit(hub, model_dir, tmp_path):
    first = publish(hub, "me/tiny", model_dir)
    publish(hub, "me/tiny", save_model_folder(make_model(seed=1), tmp_path / "second"))
    publish(hub, "me/tiny", save_model_folder(make_model(seed=2), tmp_path / "third"), branch="experiment")
    assert probabilities(TextCNN.from_pretrained("me/tiny", revision=first)) == probabilities(make_model(0))
    assert probabilities(TextCNN.from_pretrained("me/tiny")) == probabilities(make_model(1))
    assert probabilities(TextCNN.from_pretrained("me/tiny", revision="experiment")) == probabilities(make_model(2))


@pytest.mark.parametrize(
    "repo_id, revision, message",
    [
        ("me/nothing", None, "no model repo me/nothing on the Hub (if it is private, log in or set HF_TOKEN)"),
        ("me/tiny", "v9", "The Hub repo me/tiny has no branch, tag or commit 'v9'."),
        ("me/pickled", None, "The Hub repo me/pickled contains pickle files (pytorch_model.bin)"),
        ("me/no-vocab", None, "The model at me/no-vocab has no vocab.json"),
        ("me/private", None, "no model repo me/private on the Hub"),
    ],
)
def test_hub_errors_are_one_sentence(hub, model_dir, monkeypatch, repo_id, revision, message):
    publish(hub, "me/tiny", model_dir)
    publish(hub, "me/pickled", model_dir, **{"pytorch_model.bin": b"\x80\x04 evil"})
    hub.add_commit("me/no-vocab", {p.name: p.read_bytes() for p in model_dir.iterdir() if p.name != VOCAB})
    hub.add_commit("me/private", {p.name: p.read_bytes() for p in model_dir.iterdir()}, private=True)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(ModelLoadError) as raised:
        TextCNN.from_pretrained(repo_id, revision=revision)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert not [r for r in hub.requests if r.endswith(".bin")], "a pickle was downloaded"


@pytest.mark.parametrize("repo_id, status", [("me/tiny", 0), ("me/other", 2)])
def test_predict_cli_offline_from_the_environment(hub, model_dir, tmp_path, repo_id, status):
    """HF_HUB_OFFLINE=1 as a user sets it: a cached repo predicts, an uncached one is one line on stderr."""
    publish(hub, "me/tiny", model_dir)
    TextCNN.from_pretrained("me/tiny")  # fills the cache
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": constants.HF_HUB_CACHE, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "textcnn", "predict", "--model", repo_id], input="\n".join(REVIEWS) + "\n",
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == status, result.stderr
    if status == 0:
        expected = [p.as_dict() for p in SentimentPipeline(make_model(), method="lookup").predict(REVIEWS)]  # the CLI's
        assert [json.loads(line) for line in result.stdout.splitlines()] == expected
    else:
        assert result.stderr == (
            f"error: me/other is not in the Hub cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE is set, "
            "so it cannot be loaded.\n"
        )


def test_predict_cli_takes_a_repo_id(hub, model_dir, tmp_path, capsys):
    publish(hub, "me/tiny", model_dir)
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(REVIEWS) + "\n")
    assert cli.main(["predict", "--model", str(model_dir), str(reviews)]) == 0
    from_folder = capsys.readouterr().out
    assert cli.main(["predict", "--model", "me/tiny", "--revision", "main", str(reviews)]) == 0
    assert capsys.readouterr().out == from_folder
    assert cli.main(["predict", "--model", "me/nothing", str(reviews)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: There is no model folder me/nothing") and err.count("\n") == 1


# --- pushing --------------------------------------------------------------------------------

def test_staged_upload_is_complete_and_loads_back(model_dir, tmp_path):
    staged = stage_upload(model_dir, tmp_path / "staging", "me/tiny", "v2")
    assert sorted(p.name for p in staged.iterdir()) == sorted([WEIGHTS, CONFIG, VOCAB, FILTER_NGRAMS, "metrics.json", CARD])
    assert probabilities(TextCNN.from_pretrained(staged)) == probabilities(make_model())
    card = ModelCard.load(staged / CARD)
    assert 'SentimentPipeline.from_pretrained("me/tiny", revision="v2")' in card.text
    assert card.data.eval_results[0].metric_value == 0.75


def test_push_then_load_from_the_hub(hub, model_dir):
    before = folder_bytes(model_dir)
    url = push_model_folder(model_dir, "tiny")  # a bare name resolves to the token's user
    assert hub.commit_count("me/tiny") == 2  # the repo's creation, then one commit with every file
    assert url.startswith("https://huggingface.co/me/tiny/commit/")
    remote = hub.files("me/tiny")
    assert set(remote) == {".gitattributes", WEIGHTS, CONFIG, VOCAB, FILTER_NGRAMS, "metrics.json", CARD}
    assert remote[WEIGHTS] == before[WEIGHTS]
    assert 'from_pretrained("me/tiny")' in remote[CARD].decode()
    assert folder_bytes(model_dir) == before  # pushing only reads the folder
    assert probabilities(TextCNN.from_pretrained("me/tiny")) == probabilities(make_model())


def test_push_to_a_branch_and_clean_stale_files(hub, model_dir, tmp_path):
    old = save_model_folder(make_model(seed=1), tmp_path / "old")
    publish(hub, "me/tiny", old, **{"pytorch_model.bin": b"\x80\x04 old pickle", "notes.txt": b"kept"})
    main_files = hub.files("me/tiny")
    (model_dir / FILTER_NGRAMS).unlink()  # this model has none: the old one must not stay beside it
    push_model_folder(model_dir, "me/tiny", revision="experiment", private=True)
    assert hub.files("me/tiny") == main_files  # main untouched
    pushed = hub.files("me/tiny", "experiment")
    assert {"pytorch_model.bin", FILTER_NGRAMS} & set(pushed) == set()
    assert pushed["notes.txt"] == b"kept"  # files that are not the model's are left alone
    assert 'revision="experiment"' in pushed[CARD].decode()
    loaded = TextCNN.from_pretrained("me/tiny", revision="experiment")
    assert probabilities(loaded) == probabilities(make_model()) and loaded.filter_ngrams is None


def test_push_creates_a_private_repo(hub, model_dir):
    push_model_folder(model_dir, "me/secret", private=True)
    assert hub.repos["me/secret"].private


# (huggingface_hub retries a preupload answered 5xx for about 20 s: a 403 fails at once)
@pytest.mark.parametrize("failing, status", [("repos/create", 500), ("branch", 500), ("preupload", 403), ("commit", 500)])
def test_failed_push_keeps_the_folder_and_says_how_to_retry(hub, model_dir, failing, status, capsys):
    before = folder_bytes(model_dir)
    hub.fail[failing] = status
    with pytest.raises(PushError) as raised:
        push_model_folder(model_dir, "me/tiny", revision="experiment")
    message = str(raised.value)
    assert f"the local model folder is intact, retry with: python -m textcnn push {model_dir} me/tiny --revision experiment" in message
    assert folder_bytes(model_dir) == before
    assert probabilities(TextCNN.from_pretrained(model_dir)) == probabilities(make_model())
    # the retry command works once the Hub does
    hub.fail.clear()
    assert cli.main(["push", str(model_dir), "me/tiny", "--revision", "experiment"]) == 0
    assert capsys.readouterr().out.startswith("https://huggingface.co/me/tiny/commit/")
    assert probabilities(TextCNN.from_pretrained("me/tiny", revision="experiment")) == probabilities(make_model())


def test_push_with_the_network_down(hub, model_dir):
    def unreachable(request):
        raise httpx2.ConnectError("[Errno -2] Name or service not known", request=request)

    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(unreachable)))
    with pytest.raises(PushError, match=r"failed \(ConnectError: .*\); the local model folder is intact, retry with"):
        push_model_folder(model_dir, "me/tiny")


def test_a_bad_folder_is_not_pushed(hub, model_dir):
    corrupt_pickle_file(model_dir)
    with pytest.raises(PushError, match="Refusing to push .* contains pickle files"):
        push_model_folder(model_dir, "me/tiny")
    assert "me/tiny" not in hub.repos


@pytest.mark.parametrize(
    "token, offline, message",
    [
        (None, False, "needs a token with write access, and none was found: set HF_TOKEN or run `hf auth login`"),
        ("hf_wrong", False, "The Hub rejected the token"),
        (READ_TOKEN, False, "The Hub token is read-only"),
        (TOKEN, True, "HF_HUB_OFFLINE is set, so nothing can be pushed"),
    ],
)
def test_push_prerequisites(hub, monkeypatch, token, offline, message):
    monkeypatch.delenv("HF_TOKEN")
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    with pytest.raises(PushError, match=message):
        check_push_prerequisites("me/tiny")


def test_push_cli_without_token(model_dir, no_token, capsys):
    assert cli.main(["push", str(model_dir), "me/tiny"]) == 1
    assert "error: Pushing to the Hub needs a token" in capsys.readouterr().err


def test_mixin_push_to_hub_loads_back(hub):
    model = make_model()
    model.push_to_hub("me/mixin")
    assert probabilities(TextCNN.from_pretrained("me/mixin")) == probabilities(model)


# --- train.py ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def train_module():
    spec = importlib.util.spec_from_file_location("train", REPO_ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_args(tiny_imdb: Path, output: Path, *extra: str) -> list[str]:
    return ["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(output), "--no-progress",
            "--glove", "none", "--num-proc", "1", *extra]


@pytest.mark.parametrize("token, message", [(None, "none was found"), ("hf_wrong", "The Hub rejected the token")])
def test_train_checks_the_token_before_training(train_module, hub, monkeypatch, tmp_path, capsys, token, message):
    monkeypatch.delenv("HF_TOKEN")
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setattr(train_module, "load_imdb", lambda *a, **k: pytest.fail("data was loaded before the token check"))
    with pytest.raises(SystemExit) as exited:
        train_module.main(train_args(tmp_path / "no-data", tmp_path / "out", "--push-to-hub", "me/tiny"))
    assert message in str(exited.value.code)
    assert not (tmp_path / "out").exists()


def test_train_pushes_the_finished_folder(train_module, hub, tiny_imdb, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level("INFO"):
        metrics = train_module.main(train_args(tiny_imdb, out, "--push-to-hub", "me/tiny", "--revision", "dev"))
    assert "pushed to the Hub: https://huggingface.co/me/tiny/commit/" in caplog.text
    local_card = ModelCard.load(out / CARD)
    assert local_card.data.eval_results[0].metric_value == round(metrics["test_accuracy"], 4)
    assert 'from_pretrained("me/tiny", revision="dev")' in local_card.text
    remote = hub.files("me/tiny", "dev")
    assert set(MODEL_FILES) <= set(remote)
    assert all(remote[p.name] == p.read_bytes() for p in out.iterdir())  # the same card, too
    loaded = TextCNN.from_pretrained("me/tiny", revision="dev")
    local = TextCNN.from_pretrained(out)
    assert probabilities(loaded) == probabilities(local)


def test_train_push_failure_keeps_the_model(train_module, hub, tiny_imdb, tmp_path, caplog):
    out = tmp_path / "out"
    hub.fail["commit"] = 503
    with pytest.raises(SystemExit) as exited:
        train_module.main(train_args(tiny_imdb, out, "--push-to-hub", "me/tiny"))
    assert exited.value.code == 1
    assert f"retry with: python -m textcnn push {out} me/tiny" in caplog.text
    assert set(MODEL_FILES) <= {p.name for p in out.iterdir()}
    TextCNN.from_pretrained(out)
