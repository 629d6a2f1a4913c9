import json

import pytest
import train
from textcnn.data import load_imdb
from textcnn.hub import CURVES, METRICS, load_model
from textcnn.pipeline import SentimentPipeline


@pytest.fixture(scope="module")
def dry_run(tiny_imdb, tmp_path_factory, tiny_glove):
    out = tmp_path_factory.mktemp("run") / "model"
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress",
                          "--glove", str(tiny_glove), "--num-proc", "1"])
    return out, metrics


@pytest.fixture(scope="module")
def tiny_glove(tmp_path_factory):
    path = tmp_path_factory.mktemp("glove") / "glove.txt"
    path.write_text("great 1 0 0 0\nawful -1 0 0 0\nthe 0 1 0 0\nfilm 0 0 1 0\n", encoding="utf-8")
    return path


def test_dry_run_writes_a_loadable_model_folder(dry_run):
    out, metrics = dry_run
    for name in ("model.safetensors", "config.json", "vocab.json", "filter_ngrams.json", METRICS, CURVES):
        assert (out / name).is_file(), name
    loaded = load_model(out)
    assert loaded.model.config.embedding_dim == 4
    pipeline = SentimentPipeline(loaded.model, loaded.vocab)
    prediction = pipeline("a great film")
    assert abs(sum(prediction.probabilities.values()) - 1) < 1e-6
    assert (out / CURVES).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_record_the_run(dry_run):
    out, metrics = dry_run
    saved = json.loads((out / METRICS).read_text())
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    for key in ("val_accuracy", "val_loss", "test_loss", "history", "seconds_per_epoch", "device", "parameters", "args"):
        assert key in saved, key
    assert saved["args"]["dry_run"] is True and saved["glove_coverage"] >= 1
    assert saved["args"]["adapt_embeddings"] is True  # GloVe is adapted to the reviews by default
    assert len(saved["history"]) == 1 and 0 <= saved["test_accuracy"] <= 1
    # distillation is on by default: the teacher labelled every unlabelled review of the slice
    assert saved["teacher"]["unlabelled_reviews"] == saved["examples"]["unlabelled"] > 0
    assert 0.5 < saved["teacher"]["val_accuracy"] <= 1  # the toy reviews are easy


def test_no_distill_trains_on_labelled_reviews_only(tiny_imdb, tmp_path):
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"),
                          "--no-progress", "--glove", "none", "--no-distill", "--num-proc", "1"])
    assert metrics["teacher"] is None and metrics["examples"]["unlabelled"] == 0


def test_distill_reviews_caps_the_unlabelled_reviews(tiny_imdb, tmp_path):
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"),
                          "--no-progress", "--glove", "none", "--distill-reviews", "7", "--num-proc", "1"])
    assert metrics["teacher"]["unlabelled_reviews"] == metrics["examples"]["unlabelled"] == 7


def test_saved_folder_is_the_model_that_was_evaluated(dry_run, tiny_imdb):
    out, metrics = dry_run
    pipeline = SentimentPipeline.from_pretrained(out)
    test = load_imdb(tiny_imdb, splits=("test",))["test"]
    predictions = pipeline.predict(test["text"])
    accuracy = sum(p.label == ("neg", "pos")[y] for p, y in zip(predictions, test["label"])) / len(test)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)


def test_help_lists_the_documented_options(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = capsys.readouterr().out
    for option in ("--dataset", "--glove", "--vocab-size", "--max-tokens", "--epochs", "--batch-size", "--lr",
                   "--filter-widths", "--num-filters", "--dropout", "--seed", "--output-dir", "--device", "--dry-run",
                   "--distill", "--no-distill", "--distill-reviews", "--teacher-c"):
        assert option in text


def test_freeze_embeddings_keeps_the_pretrained_vectors(tiny_imdb, tiny_glove, tmp_path):
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress", "--glove",
                str(tiny_glove), "--no-adapt-embeddings", "--freeze-embeddings", "--num-proc", "1"])
    loaded = load_model(out)
    great = loaded.vocab.stoi["great"]
    assert loaded.model.embedding.weight[great].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_prepared_folder_is_written_then_read_with_the_same_result(tiny_imdb, tiny_glove, tmp_path, monkeypatch):
    prepared = tmp_path / "prepared"
    flags = ["--dataset", str(tiny_imdb), "--dry-run", "--no-progress", "--glove", str(tiny_glove), "--num-proc", "1",
             "--prepared", str(prepared)]
    first = train.main([*flags, "--output-dir", str(tmp_path / "first")])
    assert (prepared / "prepared.json").is_file()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the prepared folder should have been read")

    monkeypatch.setattr(train, "load_imdb", must_not_run)  # nor tokenising, the teacher or word2vec after it
    second = train.main([*flags, "--output-dir", str(tmp_path / "second")])
    for key in ("val_accuracy", "test_accuracy", "test_loss", "examples", "teacher", "vocab_size", "glove_coverage"):
        assert second[key] == first[key], key
    assert (tmp_path / "first" / "model.safetensors").read_bytes() == (tmp_path / "second" / "model.safetensors").read_bytes()


def test_prepared_folder_refuses_other_data_settings(tiny_imdb, tmp_path, capsys):
    flags = ["--dataset", str(tiny_imdb), "--dry-run", "--no-progress", "--glove", "none", "--no-distill",
             "--num-proc", "1", "--prepared", str(tmp_path / "prepared"), "--output-dir", str(tmp_path / "model")]
    train.main(flags)
    with pytest.raises(SystemExit, match="other data settings.*max_tokens"):
        train.main([*flags, "--max-tokens", "20"])
    train.main([*flags, "--num-filters", "5"])  # CNN settings may change: that is what the folder is for
