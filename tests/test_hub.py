"""Saving, loading and pushing models: folders, Hub repos (a fake Hub at the HTTP boundary), train.py.

The fake (tests/fake_hub.py) replaces only the HTTP client huggingface_hub sends its requests
through; snapshot_download, the cache, HF_HUB_OFFLINE, create_repo/create_branch/create_commit are
the real library code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
import torch
from huggingface_hub import ModelCard, constants, set_client_factory
from safetensors.torch import load_file, save_file
from safetensors.torch import save as safetensors_bytes

from fake_hub import READ_TOKEN, TOKEN, FakeHub, installed
from textcnn import cli, hub as hub_module
from textcnn.hub import (
    CARD,
    CONFIG,
    FILTER_NGRAMS,
    METRICS,
    MODEL_FILES,
    VOCAB,
    WEIGHTS,
    LoadedModel,
    ModelLoadError,
    PushError,
    check_push_prerequisites,
    expected_shapes,
    load_model,
    push_model_folder,
    save_model_folder,
    stage_upload,
)
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.pipeline import SentimentPipeline
from textcnn.vocab import PAD, UNK, Vocab

REPO_ROOT = Path(__file__).resolve().parent.parent
REVIEWS = ["a wonderful, moving film", "boring. a dull mess and a waste", "the plot", "superb actors but the worst story"]
VOCABULARY = Vocab([PAD, UNK, "a", "wonderful", "moving", "film", "boring", "dull", "mess", "waste", "the", "plot", ".", ","])


def make_model(seed: int = 0, **config) -> TextCNN:
    torch.manual_seed(seed)
    config = {"vocab_size": len(VOCABULARY), "embedding_dim": 8, "filter_widths": (2, 3), "num_filters": 4,
              "max_tokens": 50, **config}
    return TextCNN(TextCNNConfig(**config)).eval()


def make_ngrams(model: TextCNN) -> list[list[dict]]:
    return [[{"ngram": f"ngram {f}", "activation": 1.0}] for f in range(model.config.num_features)]


def save_folder(model: TextCNN, path: Path, with_ngrams: bool = True, **kwargs) -> Path:
    """A model folder as train.py writes it (vocabulary, and n-grams unless ``with_ngrams`` is False)."""
    return save_model_folder(model, path, vocab=VOCABULARY, filter_ngrams=make_ngrams(model) if with_ngrams else None,
                             **kwargs)


def probabilities(model: TextCNN) -> list[dict[str, float]]:
    return [p.probabilities for p in SentimentPipeline(model, VOCABULARY).predict(REVIEWS)]


def loaded_probabilities(source, **kwargs) -> list[dict[str, float]]:
    return probabilities(load_model(source, **kwargs).model)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A complete model folder with metrics, as train.py writes it (its model's seed is 0)."""
    metrics = {"test_accuracy": 0.75, "examples": {"test": 4}, "dry_run": True}
    return save_folder(make_model(), tmp_path / "model", extra_files={METRICS: json.dumps(metrics).encode()})


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))


@pytest.fixture
def hub(monkeypatch, tmp_path, no_token) -> FakeHub:
    """The fake Hub behind huggingface_hub's HTTP client, an empty cache, and a write token in HF_TOKEN."""
    with installed(FakeHub(), monkeypatch, tmp_path / "hub-cache") as fake:
        yield fake


def publish(hub: FakeHub, repo_id: str, folder: Path, branch: str = "main", **extra: bytes) -> str:
    return hub.add_commit(repo_id, {**{p.name: p.read_bytes() for p in folder.iterdir()}, **extra}, branch=branch)


# --- folders ------------------------------------------------------------------------------

def test_folder_round_trip_predicts_identically(tmp_path):
    model = make_model()
    save_folder(model, tmp_path / "m", extra_files={METRICS: b'{"test_accuracy": 0.5}'})
    assert {WEIGHTS, CONFIG, VOCAB, FILTER_NGRAMS, METRICS, CARD} == set(p.name for p in (tmp_path / "m").iterdir())
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, LoadedModel) and loaded.folder == tmp_path / "m"
    ids = torch.tensor([[2, 3, 4, 5, 0], [6, 7, 8, 0, 0]])
    assert torch.equal(loaded.model(ids), model(ids))
    assert probabilities(loaded.model) == probabilities(model)
    assert loaded.vocab == VOCABULARY and loaded.filter_ngrams == make_ngrams(model)
    assert loaded.metrics == {"test_accuracy": 0.5}
    assert loaded.model.config == model.config and not loaded.model.training
    save_folder(loaded.model, tmp_path / "again")  # a loaded model saves back the same way
    assert (tmp_path / "again" / WEIGHTS).read_bytes() == (tmp_path / "m" / WEIGHTS).read_bytes()


def test_a_local_folder_loads_and_saves_without_the_hubs_http_client(tmp_path, monkeypatch):
    # huggingface_hub's HTTP client differs between its versions; only Hub downloads need it
    monkeypatch.setitem(sys.modules, "httpx2", None)
    folder = save_folder(make_model(), tmp_path / "m")  # saving loads the staged folder back
    assert load_model(folder).vocab == VOCABULARY


def test_the_pipeline_carries_what_the_folder_holds(model_dir):
    pipeline = SentimentPipeline.from_pretrained(model_dir)
    assert pipeline.vocab == VOCABULARY and pipeline.filter_ngrams == make_ngrams(make_model())
    assert pipeline.metrics["test_accuracy"] == 0.75 and pipeline.folder == model_dir
    assert not hasattr(pipeline.model, "vocab_tokens") and not hasattr(pipeline.model, "filter_ngrams")


def test_the_card_is_written_from_the_config_and_metrics(model_dir):
    card = ModelCard.load(model_dir / CARD)
    assert card.data.eval_results[0].metric_value == 0.75 and "## Limitations" in card.text


def test_every_file_of_a_folder_is_shared_alike(tmp_path):
    folder = save_folder(make_model(), tmp_path / "m")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes[WEIGHTS] == modes[CONFIG] == modes[VOCAB]
    assert modes[WEIGHTS] & 0o044 == 0o044  # readable by the group and others, as the folder is
    assert stat.S_IMODE(folder.stat().st_mode) & 0o055 == 0o055


def test_a_folder_that_would_not_load_is_never_written(model_dir):
    before = folder_bytes(model_dir)
    with pytest.raises(ValueError, match="the vocabulary has 14 tokens but the model has 20 embedding rows"):
        save_folder(make_model(vocab_size=20), model_dir)
    bad_ngrams = [[{"ngram": "x", "activation": float("nan")}]] * 8
    with pytest.raises(ValueError, match="would not load back .*invalid filter_ngrams.json"):
        save_model_folder(make_model(), model_dir, vocab=VOCABULARY, filter_ngrams=bad_ngrams)
    assert folder_bytes(model_dir) == before
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_expected_shapes_are_the_networks_own():
    for config in (TextCNNConfig(), TextCNNConfig(vocab_size=7, embedding_dim=3, filter_widths=(5, 1, 2), num_filters=2,
                                                  labels=("a", "b", "c"))):
        assert expected_shapes(config) == {k: tuple(v.shape) for k, v in TextCNN(config).state_dict().items()}


@pytest.mark.parametrize("call, names", [
    (lambda model, folder: model.save_pretrained(folder), "textcnn.hub.save_model_folder(model, folder, vocab=vocab)"),
    (lambda model, folder: model.push_to_hub("me/tiny"), "textcnn.hub.push_model_folder(folder, repo_id)"),
    (lambda model, folder: TextCNN.from_pretrained(folder), "textcnn.hub.load_model(source)"),
    (lambda model, folder: model.generate_model_card(), "textcnn.card.model_card(config, metrics)"),
])
def test_the_mixins_file_methods_name_the_call_that_works(hub, tmp_path, call, names):
    """The mixin would save, push or load the network without its vocabulary, past the checks."""
    with pytest.raises(NotImplementedError) as raised:
        call(make_model(), tmp_path / "m")
    assert names in str(raised.value) and "\n" not in str(raised.value)
    assert not (tmp_path / "m").exists() and hub.repos == {}


def test_the_class_still_declares_its_hub_metadata():
    data = TextCNN._hub_mixin_info.model_card_data
    assert data.library_name == "textcnn" and data.license == "mit" and data.pipeline_tag == "text-classification"
    assert {"sentiment-analysis", "pytorch_model_hub_mixin"} <= set(data.tags)


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    # copies: load_file maps the file, which the corruptions below then overwrite
    return {name: tensor.clone() for name, tensor in load_file(folder / WEIGHTS).items()}


def corrupt_pickle_file(folder: Path) -> None:
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04 not really loaded")


def corrupt_weights_as_pickle(folder: Path) -> None:
    torch.save(read_weights(folder), folder / WEIGHTS)


def corrupt_weights_garbage(folder: Path) -> None:
    (folder / WEIGHTS).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")


def corrupt_header_length(folder: Path) -> None:
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", 2**62) + data[8:])


def corrupt_header_not_an_object(folder: Path) -> None:
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", 8) + b"[1,2,3] ")


def corrupt_extra_weight(folder: Path) -> None:
    save_file({**read_weights(folder), "extra.weight": torch.zeros(2)}, folder / WEIGHTS)


def corrupt_weight_name(folder: Path) -> None:
    save_file({**read_weights(folder), "line\nbreak": torch.zeros(2)}, folder / WEIGHTS)


def corrupt_missing_weight(folder: Path) -> None:
    save_file({k: v for k, v in read_weights(folder).items() if k != "head.bias"}, folder / WEIGHTS)


def weights_as(dtype: torch.dtype):
    def corrupt(folder: Path) -> None:
        save_file({k: v.to(dtype) for k, v in read_weights(folder).items()}, folder / WEIGHTS)
    return corrupt


def weight_value(value: float):
    def corrupt(folder: Path) -> None:
        weights = read_weights(folder)
        weights["convs.1.weight"][2, 3, 1] = value
        save_file(weights, folder / WEIGHTS)
    return corrupt


def float64_past_float32(folder: Path) -> None:
    weights = {k: v.double() for k, v in read_weights(folder).items()}
    weights["head.weight"][0, 0] = 1e300  # finite in float64, infinite in the float32 the model computes in
    save_file(weights, folder / WEIGHTS)


def truncate_weights(folder: Path) -> None:
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[:-4])


def append_to_weights(folder: Path) -> None:
    with open(folder / WEIGHTS, "ab") as f:
        f.write(b"\0" * 64)


def edit_config(**changes):
    def corrupt(folder: Path) -> None:
        config = json.loads((folder / CONFIG).read_text())
        (folder / CONFIG).write_text(json.dumps({**config, **changes}))
    return corrupt


def write(name: str, text: str | bytes):
    def corrupt(folder: Path) -> None:
        (folder / name).unlink(missing_ok=True)
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return corrupt


def corrupt_vocab_size(folder: Path) -> None:
    tokens = json.loads((folder / VOCAB).read_text())["tokens"]
    (folder / VOCAB).write_text(json.dumps({"tokens": tokens + ["extra"]}))


def vocab_tokens(edit):
    def corrupt(folder: Path) -> None:
        tokens = json.loads((folder / VOCAB).read_text())["tokens"]
        (folder / VOCAB).write_text(json.dumps({"tokens": edit(tokens)}))
    return corrupt


def ngrams(entry, filters: int = 8):
    return write(FILTER_NGRAMS, json.dumps([[entry]] * filters))


def make_directory(name: str):
    def corrupt(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()
    return corrupt


def make_fifo(name: str):
    def corrupt(folder: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)  # reading it would wait for a writer forever
    return corrupt


def remove(name: str):
    return lambda folder: (folder / name).unlink()


INVALID_CONFIG = "has an invalid config.json"
INVALID_WEIGHTS = "model.safetensors is not a valid safetensors file"


@pytest.mark.parametrize(
    "corrupt, message",
    [
        # pickles and what is not safetensors
        (corrupt_pickle_file, "contains pickle files (pytorch_model.bin)"),
        (corrupt_weights_as_pickle, INVALID_WEIGHTS),
        (corrupt_weights_garbage, INVALID_WEIGHTS + " (its header is not JSON"),
        (corrupt_header_length, INVALID_WEIGHTS + " (its first 8 bytes give a header of 4,611,686,018,427,387,904 bytes"),
        (corrupt_header_not_an_object, "its header is not a JSON object"),
        (write(WEIGHTS, b"\x01\x02"), "it is 2 bytes, too short to hold a header"),
        # weights that are not the config's, or not usable numbers
        (corrupt_extra_weight, "its model.safetensors does not match its config.json (unexpected extra.weight)"),
        (corrupt_missing_weight, "(missing head.bias)"),
        (corrupt_weight_name, "(unexpected 'line\\nbreak')"),
        (edit_config(num_filters=5), "convs.0.weight is (4, 8, 2), config says (5, 8, 2)"),
        (edit_config(vocab_size=2_000_000), "embedding.weight is (14, 8), config says (2000000, 8)"),
        (weights_as(torch.int64), "its model.safetensors holds non-floating-point weights (convs.0.bias is I64"),
        (weights_as(torch.int8), "textcnn loads F16, BF16, F32 or F64 weights only"),
        (weight_value(float("nan")), "model.safetensors holds NaN or infinite values in convs.1.weight"),
        (weight_value(float("inf")), "holds NaN or infinite values"),
        (weight_value(float("-inf")), "holds NaN or infinite values"),
        (float64_past_float32, "holds NaN or infinite values in head.weight"),
        (truncate_weights, "model.safetensors holds 1,188 bytes after the header, but the tensors of its config.json take 1,192"),
        (append_to_weights, "model.safetensors holds 1,256 bytes after the header, but the tensors of its config.json take 1,192"),
        # config.json: types
        (edit_config(hidden_layers=2), INVALID_CONFIG + " (unknown key(s) hidden_layers)"),
        (edit_config(**{"evil\nkey": 1}), INVALID_CONFIG + " (unknown key(s) 'evil\\nkey')"),
        (write(CONFIG, "[1, 2]"), INVALID_CONFIG + " (it must be a JSON object)"),
        (write(CONFIG, "{not json"), INVALID_CONFIG + " (not JSON"),
        (write(CONFIG, "[" * 50_000), INVALID_CONFIG + " (not JSON"),
        (write(CONFIG, b"\xff\xfe{}"), INVALID_CONFIG + " (not JSON"),
        (edit_config(vocab_size="14"), "vocab_size must be a whole number from 2 to 2,000,000, got '14'"),
        (edit_config(vocab_size=14.0), "vocab_size must be a whole number"),
        (edit_config(num_filters=True), "num_filters must be a whole number from 1 to 4,096, got True"),
        (edit_config(embedding_dim=None), "embedding_dim must be a whole number"),
        (edit_config(filter_widths=[2.0, 3]), "filter_widths must be a list of 1 to 16 whole numbers from 1 to 64"),
        (edit_config(filter_widths="23"), "filter_widths must be a list"),
        (edit_config(labels=[0, 1]), "labels must be a list of 2 to 32 non-empty printable strings"),
        (edit_config(labels=["neg", "po\u200bs"]), "non-empty printable strings"),
        (edit_config(labels=["neg", "pos\n"]), "non-empty printable strings"),
        (edit_config(labels="np"), "labels must be a list"),
        (edit_config(dropout="0.5"), "dropout must be a number from 0 up to (not including) 1"),
        (edit_config(dropout=float("nan")), "dropout must be a number"),
        # config.json: ranges and sizes
        (edit_config(vocab_size=20_000_000), "vocab_size must be a whole number from 2 to 2,000,000, got 20000000"),
        (edit_config(vocab_size=1), "vocab_size must be"),
        (edit_config(embedding_dim=0), "embedding_dim must be a whole number from 1 to 2,048"),
        (edit_config(num_filters=100_000), "num_filters must be"),
        (edit_config(filter_widths=[]), "filter_widths must be"),
        (edit_config(filter_widths=[0]), "filter_widths must be"),
        (edit_config(filter_widths=[500]), "filter_widths must be"),
        (edit_config(filter_widths=[3] * 2000), "filter_widths must be"),
        (edit_config(max_tokens=0), "max_tokens must be a whole number from 1 to 100,000, got 0"),
        (edit_config(max_tokens=10**9), "max_tokens must be"),
        (edit_config(dropout=1.0), "dropout must be"),
        (edit_config(embedding_dropout=-0.1), "embedding_dropout must be"),
        (edit_config(labels=["pos", "pos"]), "labels must be distinct"),
        (edit_config(labels=["neg", " "]), "non-empty printable strings"),
        (edit_config(labels=["neg"]), "labels must be a list of 2 to 32"),
        (edit_config(labels=[f"l{i}" for i in range(33)]), "labels must be a list of 2 to 32"),
        (edit_config(labels=["neg", "x" * 101]), "of at most 100 characters"),
        (edit_config(vocab_size=2_000_000, embedding_dim=2_000), "weights, more than the 200,000,000 textcnn loads"),
        (write(CONFIG, " " * 70_000), "config.json is 70,000 bytes, more than the 65,536"),
        # vocab.json
        (corrupt_vocab_size, "vocab.json has 15 tokens but config.json says vocab_size=14"),
        (write(VOCAB, '["<pad>", "<unk>"]'), 'has an invalid vocab.json (a vocabulary file must be a JSON object {"tokens": [...]})'),
        (vocab_tokens(lambda t: t[:-1] + [7]), "every token of a vocabulary must be a non-empty string"),
        (vocab_tokens(lambda t: t[:-1] + [t[2]]), "must not repeat a token"),
        (vocab_tokens(lambda t: t[::-1]), "must start with '<pad>', '<unk>'"),
        (vocab_tokens(lambda t: t[:-1] + ["x" * 20_000]), "vocab.json is 20,"),
        # filter_ngrams.json
        (write(FILTER_NGRAMS, "[[]]"), "has an invalid filter_ngrams.json (it must hold one list per filter, 8 in all, not 1 entries)"),
        (write(FILTER_NGRAMS, json.dumps([[1, 2]] * 8)), 'an entry of filter 0 is not {"ngram": text, "activation": finite number}'),
        (write(FILTER_NGRAMS, json.dumps([7] * 8)), "filter 0 has no list of at most 100 n-grams"),
        (write(FILTER_NGRAMS, json.dumps([[{"ngram": "a", "activation": 1}] * 101] * 8)), "at most 100 n-grams"),
        (ngrams({"ngram": "a b", "activation": float("nan")}), "an entry of filter 0 is not"),
        (ngrams({"ngram": "a b", "activation": "1.0"}), "an entry of filter 0 is not"),
        (ngrams({"ngram": 12, "activation": 1.0}), "an entry of filter 0 is not"),
        (ngrams({"ngram": "a", "activation": 1.0, "html": "<img>"}), "an entry of filter 0 is not"),
        (write(FILTER_NGRAMS, "[" + " " * 600_000 + "]"), "filter_ngrams.json is 600,002 bytes, more than the 528,384"),
        # metrics.json
        (write(METRICS, "[]"), "has an invalid metrics.json (it must be a JSON object)"),
        (write(METRICS, '{"test_accuracy": 91.7}'), "test_accuracy must be a number from 0 to 1"),
        (write(METRICS, '{"test_accuracy": "high"}'), "test_accuracy must be a number from 0 to 1"),
        (write(METRICS, '{"short_sentences": {"yelp": 2}}'), "short_sentences must hold accuracies from 0 to 1"),
        (write(METRICS, "{" + " " * (1 << 20) + "}"), "metrics.json is 1,048,578 bytes, more than the 1,048,576"),
        # what is missing, or not a file
        (remove(VOCAB), "has no vocab.json"),
        (remove(WEIGHTS), "has no model.safetensors"),
        (remove(CONFIG), "has no config.json"),
        (make_directory(CONFIG), "config.json is not a regular file"),
        (make_fifo(VOCAB), "vocab.json is not a regular file"),
        (make_fifo(WEIGHTS), "model.safetensors is not a regular file"),
    ],
)
def test_bad_folders_are_refused_in_one_sentence(model_dir, corrupt, message, monkeypatch):
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load (unpickling) was called"))
    corrupt(model_dir)
    with pytest.raises(ModelLoadError) as raised:
        load_model(model_dir)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value) and str(raised.value).endswith(".")


@pytest.mark.parametrize("edit", [edit_config(vocab_size=2_000_000), edit_config(num_filters=4_000)])
def test_weights_are_checked_against_the_config_before_they_are_read(model_dir, monkeypatch, edit):
    """A config that asks for far more than the weights file holds is refused from the header alone."""
    monkeypatch.setattr(hub_module, "load_file", lambda *a, **k: pytest.fail("the weights were read"))
    monkeypatch.setattr(hub_module, "TextCNN", lambda *a, **k: pytest.fail("a model was built"))
    edit(model_dir)
    with pytest.raises(ModelLoadError, match="model.safetensors does not match its config.json"):
        load_model(model_dir)


def test_a_header_length_starting_with_0x80_is_safetensors_not_a_pickle(tmp_path):
    """A header of 128 + 256k bytes makes the file's first byte 0x80, as pickles begin; it must load."""
    shapes = [(widths, filters, dim) for widths in range(1, 9) for filters in (1, 10, 100) for dim in (8, 16)]
    for widths, filters, dim in shapes:  # the header's length depends on the tensors' names and shapes
        model = make_model(filter_widths=tuple(range(2, 2 + widths)), num_filters=filters, embedding_dim=dim)
        if safetensors_bytes(model.state_dict(), metadata={"format": "pt"})[0] == 0x80:
            break
    else:
        pytest.fail("no configuration gave a header length whose first byte is 0x80")
    folder = save_folder(model, tmp_path / "m")
    assert (folder / WEIGHTS).read_bytes()[0] == 0x80
    assert probabilities(load_model(folder).model) == probabilities(model)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_floating_point_weights_load_as_float32(model_dir, dtype):
    weights_as(dtype)(model_dir)
    model = load_model(model_dir).model
    assert all(p.dtype == torch.float32 for p in model.parameters())
    expected = {k: v.to(dtype).float() for k, v in make_model().state_dict().items()}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())


def test_a_folder_without_optional_files_loads(model_dir):
    for name in (FILTER_NGRAMS, METRICS, CARD):
        (model_dir / name).unlink()
    loaded = load_model(model_dir)
    assert loaded.filter_ngrams is None and loaded.metrics is None


def test_a_config_without_the_newer_keys_takes_their_defaults(model_dir):
    config = json.loads((model_dir / CONFIG).read_text())
    del config["embedding_dropout"], config["max_tokens"]
    (model_dir / CONFIG).write_text(json.dumps(config))
    assert load_model(model_dir).model.config.max_tokens == TextCNNConfig().max_tokens


def test_the_pipeline_refuses_a_model_with_three_labels(tmp_path):
    model = make_model(labels=("neg", "neutral", "pos"))
    folder = save_folder(model, tmp_path / "three")
    assert load_model(folder).model.config.labels == ("neg", "neutral", "pos")
    with pytest.raises(ModelLoadError, match="has 3 labels; the pipeline explains two-class models only"):
        SentimentPipeline.from_pretrained(folder)


@pytest.mark.parametrize(
    "source, message",
    [
        ("./no/such/folder", "There is no model folder ./no/such/folder and it is not a valid Hub repo id"),
        ("bad id!", "not a valid Hub repo id"),
    ],
)
def test_neither_folder_nor_repo_id(source, message):
    with pytest.raises(ModelLoadError, match=message):
        load_model(source)


# --- loading from the Hub -------------------------------------------------------------------

def test_hub_round_trip_and_cache(hub, model_dir):
    publish(hub, "me/tiny", model_dir)
    loaded = load_model("me/tiny")
    assert probabilities(loaded.model) == probabilities(make_model())
    assert Path(loaded.folder).is_relative_to(constants.HF_HUB_CACHE)
    # a second load is answered from the cache: only the revision is resolved, no file is fetched again
    hub.requests.clear()
    load_model("me/tiny")
    assert not [r for r in hub.requests if "/resolve/" in r]


def test_offline_uses_the_cache_and_sends_nothing(hub, model_dir, monkeypatch):
    sha = publish(hub, "me/tiny", model_dir)
    load_model("me/tiny")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.requests.clear()
    for revision in (None, sha):
        assert loaded_probabilities("me/tiny", revision=revision) == probabilities(make_model())
    with pytest.raises(ModelLoadError, match=r"me/other is not in the Hub cache \(.*\) and HF_HUB_OFFLINE is set"):
        load_model("me/other")
    assert hub.requests == []


def test_no_network_falls_back_to_the_cache(hub, model_dir):
    publish(hub, "me/tiny", model_dir)
    load_model("me/tiny")

    def unreachable(request):
        raise httpx2.ConnectError("[Errno -2] Name or service not known", request=request)

    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(unreachable)))
    assert loaded_probabilities("me/tiny") == probabilities(make_model())
    with pytest.raises(ModelLoadError, match=r"me/other is not in the Hub cache .* the Hub cannot be reached \(.*Name or service"):
        load_model("me/other")


def test_revision_pins_a_commit(hub, model_dir, tmp_path):
    first = publish(hub, "me/tiny", model_dir)
    publish(hub, "me/tiny", save_folder(make_model(seed=1), tmp_path / "second"))
    publish(hub, "me/tiny", save_folder(make_model(seed=2), tmp_path / "third"), branch="experiment")
    assert loaded_probabilities("me/tiny", revision=first) == probabilities(make_model(0))
    assert loaded_probabilities("me/tiny") == probabilities(make_model(1))
    assert loaded_probabilities("me/tiny", revision="experiment") == probabilities(make_model(2))


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
        load_model(repo_id, revision=revision)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert not [r for r in hub.requests if r.endswith(".bin")], "a pickle was downloaded"


@pytest.mark.parametrize("repo_id, status", [("me/tiny", 0), ("me/other", 2)])
def test_predict_cli_offline_from_the_environment(hub, model_dir, tmp_path, repo_id, status):
    """HF_HUB_OFFLINE=1 as a user sets it: a cached repo predicts, an uncached one is one line on stderr."""
    publish(hub, "me/tiny", model_dir)
    load_model("me/tiny")  # fills the cache
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": constants.HF_HUB_CACHE, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "textcnn", "predict", "--model", repo_id], input="\n".join(REVIEWS) + "\n",
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == status, result.stderr
    if status == 0:
        expected = [p.as_dict() for p in SentimentPipeline(make_model(), VOCABULARY, method="conv").predict(REVIEWS)]  # the CLI's for a few lines
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
    assert loaded_probabilities(staged) == probabilities(make_model())
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
    assert loaded_probabilities("me/tiny") == probabilities(make_model())


def test_push_to_a_branch_and_clean_stale_files(hub, model_dir, tmp_path):
    old = save_folder(make_model(seed=1), tmp_path / "old")
    publish(hub, "me/tiny", old, **{"pytorch_model.bin": b"\x80\x04 old pickle", "notes.txt": b"kept"})
    main_files = hub.files("me/tiny")
    (model_dir / FILTER_NGRAMS).unlink()  # this model has none: the old one must not stay beside it
    push_model_folder(model_dir, "me/tiny", revision="experiment", private=True)
    assert hub.files("me/tiny") == main_files  # main untouched
    pushed = hub.files("me/tiny", "experiment")
    assert {"pytorch_model.bin", FILTER_NGRAMS} & set(pushed) == set()
    assert pushed["notes.txt"] == b"kept"  # files that are not the model's are left alone
    assert 'revision="experiment"' in pushed[CARD].decode()
    loaded = load_model("me/tiny", revision="experiment")
    assert probabilities(loaded.model) == probabilities(make_model()) and loaded.filter_ngrams is None


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
    assert loaded_probabilities(model_dir) == probabilities(make_model())
    # the retry command works once the Hub does
    hub.fail.clear()
    assert cli.main(["push", str(model_dir), "me/tiny", "--revision", "experiment"]) == 0
    assert capsys.readouterr().out.startswith("https://huggingface.co/me/tiny/commit/")
    assert loaded_probabilities("me/tiny", revision="experiment") == probabilities(make_model())


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
    loaded = load_model("me/tiny", revision="dev")
    local = load_model(out)
    assert loaded.vocab == local.vocab
    assert loaded.model.state_dict().keys() == local.model.state_dict().keys()
    assert all(torch.equal(v, local.model.state_dict()[k]) for k, v in loaded.model.state_dict().items())


def test_train_push_failure_keeps_the_model(train_module, hub, tiny_imdb, tmp_path, caplog):
    out = tmp_path / "out"
    hub.fail["commit"] = 503
    with pytest.raises(SystemExit) as exited:
        train_module.main(train_args(tiny_imdb, out, "--push-to-hub", "me/tiny"))
    assert exited.value.code == 1
    assert f"retry with: python -m textcnn push {out} me/tiny" in caplog.text
    assert set(MODEL_FILES) <= {p.name for p in out.iterdir()}
    load_model(out)
