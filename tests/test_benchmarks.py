"""The benchmarks' quick modes run end to end and write sane JSON (timing itself lives in benchmarks/, not here).

They run on the tiny fixture model and the synthetic reviews whatever exists on disk (the bundled
model, a local IMDb copy), so that every machine runs the same tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import (accuracy, common, expansion, inference, lexicon, memory, neighbours, span_labels, train_step,
                        training)

REPO_ROOT = Path(__file__).resolve().parent.parent
SPLIT = {"val_fraction": 0.2, "seed": 3}  # train.py's split settings, as the model folder's metrics.json records them


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir, tmp_path_factory) -> str:
    """The tiny model with the metrics.json train.py would have written beside it."""
    folder = tmp_path_factory.mktemp("bench") / "model"
    shutil.copytree(tiny_model_dir, folder)
    metrics = {"val_accuracy": 0.625, "best_epoch": 2, "test_accuracy": 0.6, "command": "python train.py --dry-run",
               "seconds": {"total": 12.5}, "args": SPLIT}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return str(folder)


def quick(*argv: str, dataset: Path) -> list[str]:
    """A quick run's arguments: the synthetic reviews, whatever IMDb copy this machine has."""
    return ["--quick", "--dataset", str(dataset), *argv]


def read_record(path: Path, name: str) -> dict:
    record = json.loads(path.read_text())
    assert record["benchmark"] == name
    assert record["quick"] is True
    assert record["command"].startswith(f"python benchmarks/{name}.py --quick")
    assert record["machine"]["cpu_cores"] >= 1 and record["machine"]["torch"]
    assert record["targets"] == common.TARGETS
    assert set(record["target_met"]) <= set(common.TARGETS)
    return record


def test_accuracy_quick(model_dir, tiny_imdb, tmp_path):
    out = tmp_path / "accuracy.json"
    accuracy.main(quick("--model", model_dir, "--output", str(out), dataset=tiny_imdb))
    record = read_record(out, "accuracy")
    assert record["config"]["dataset"] == str(tiny_imdb)
    # the baseline's validation split is the model's, read from its metrics.json
    assert (record["config"]["val_fraction"], record["config"]["split_seed"]) == (SPLIT["val_fraction"], SPLIT["seed"])
    assert record["results"]["textcnn"]["trained"]["best_epoch"] == 2
    model, tfidf = record["results"]["textcnn"], record["results"]["tfidf_logreg"]
    for r in (model, tfidf):
        assert 0 <= r["test_accuracy"] <= 1 and r["test_loss"] > 0
        assert r["reviews"] == record["config"]["test_reviews"] > 0
    assert tfidf["C"] in common.BASELINE_C_GRID and tfidf["fit_seconds"] > 0 and tfidf["features"] > 0
    assert 0 <= tfidf["val_accuracy"] <= 1


def test_inference_quick(model_dir, tiny_imdb, tmp_path):
    out = tmp_path / "inference.json"
    inference.main(quick("--model", model_dir, "--output", str(out), dataset=tiny_imdb))
    record = read_record(out, "inference")
    for r in record["results"].values():
        assert r["batch"]["reviews"] == record["config"]["test_reviews"] > 0
        assert r["batch"]["reviews_per_second"] > 0
        latency = r["explain_latency"]
        assert latency["calls"] == record["config"]["latency_reviews"] == 30
        assert 0 < latency["median_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert 0 < record["results"]["textcnn"]["batch"]["tokenize_seconds"]


def test_memory_quick(model_dir, tiny_imdb, tmp_path):
    out = tmp_path / "memory.json"
    memory.main(quick("--model", model_dir, "--output", str(out), dataset=tiny_imdb))
    record = read_record(out, "memory")
    stages = {s["stage"]: s["rss_mb"] for s in record["results"]["stages"]}
    assert stages["gradio imported"] > stages["python started, reviews read"] > 0
    assert "model loaded" in stages
    assert record["results"]["peak_rss_mb"] >= max(stages.values())
    app_stages = [rss for stage, rss in stages.items() if "predicted" not in stage]  # the app's work, before the batch
    assert max(app_stages) <= record["results"]["app_peak_rss_mb"] <= record["results"]["peak_rss_mb"]
    assert record["target_met"]["app_rss_mb"] == (record["results"]["app_peak_rss_mb"] < 600)


def test_expansion_quick(model_dir, tiny_imdb, tmp_path):
    out = tmp_path / "expansion.json"
    expansion.main(quick("--model", model_dir, "--output", str(out), "--words", "20", "60", "--neighbours", "1", "3",
                         dataset=tiny_imdb))
    record = read_record(out, "expansion")
    results = record["results"]
    assert list(results) == ["as trained", "N=20 k=1", "N=20 k=3", "N=60 k=1", "N=60 k=3"]
    # the stand-in lists the tiny model's 31 words first, then new ones: its first 60 hold 29 new words
    assert [r["added"] for r in results.values()] == [0, 0, 0, 29, 29]
    # no word added, nothing changes: the same model reads the same texts
    assert results["N=20 k=1"]["val_accuracy"] == results["as trained"]["val_accuracy"]
    for r in results.values():
        assert 0 <= r["val_accuracy"] <= 1 and "contrast" in r["capabilities"] and r["short_sentences"]
    assert record["config"]["validation_reviews"] == 48  # the model's split: 20% of the 240 tiny train reviews


def test_span_labels_quick(model_dir, tiny_imdb, tmp_path):
    out = tmp_path / "span_labels.json"
    span_labels.main(quick("--model", model_dir, "--output", str(out), "--spans", "300", dataset=tiny_imdb))
    record = read_record(out, "span_labels")
    # 90% of the 240 tiny train reviews (train.py's validation share left out) and the 80 unlabelled ones
    assert (record["config"]["labelled_reviews"], record["config"]["unlabelled_reviews"]) == (216, 80)
    labels = record["results"]["labels"]
    assert list(labels) == ["teacher", "teacher + 2 x VADER", "teacher + 2 x VADER, centred"]
    # centring moves every span by the same amount, so it leaves the teacher's mean log-odds as they were
    assert labels["teacher + 2 x VADER, centred"]["mean_log_odds"] == pytest.approx(labels["teacher"]["mean_log_odds"],
                                                                                   abs=2e-3)
    vader = record["results"]["vader"]
    assert vader["above_zero"] + vader["below_zero"] <= 1 and -1 <= vader["mean"] <= 1
    for r in [*labels.values(), record["results"]["model"]]:
        assert 0 <= r["positive_share"] <= 1 and 0 < r["mean_positive"] < 1
    model = record["results"]["model"]
    assert 0 <= model["same_side"] <= 1 and -1 <= model["log_odds_correlation"] <= 1


def test_agreement_of_a_reading_with_its_labels():
    import numpy as np

    from textcnn.augment import from_log_odds

    labels = from_log_odds([2.0, -1.0, 0.5, -3.0])
    assert span_labels.agreement(labels, labels) == {"same_side": 1.0, "log_odds_correlation": 1.0}
    # half as sure, and wrong on the third span: three of four on the same side, still correlated
    halved = from_log_odds([1.0, -0.5, -0.25, -1.5])
    result = span_labels.agreement(labels, halved)
    assert result["same_side"] == 0.75
    assert result["log_odds_correlation"] == pytest.approx(np.corrcoef([2, -1, 0.5, -3], [1, -0.5, -0.25, -1.5])[0, 1],
                                                           abs=1e-4)


def test_expansion_refuses_a_model_expanded_already(model_dir, tmp_path):
    folder = tmp_path / "expanded"
    shutil.copytree(model_dir, folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**metrics, "vocab_expansion": {"added": 3}}))
    with pytest.raises(SystemExit, match="expanded already"):
        expansion.main(["--quick", "--model", str(folder)])


def test_training_quick(tiny_imdb, tmp_path):
    out = tmp_path / "training.json"
    training.main(quick("--output", str(out), dataset=tiny_imdb))
    record = read_record(out, "training")
    runs = record["results"]
    assert set(runs) == {"defaults", "original"}
    for r in runs.values():
        assert r["epochs"] == 1 and r["mean_seconds_per_epoch"] > 0  # --dry-run trains one epoch
        assert r["wall_seconds"] >= r["total_seconds"] > 0
        assert 0 <= r["test_accuracy"] <= 1
    original = runs["original"]["args"]
    assert (original["num_filters"], original["filter_widths"], original["batch_size"]) == (100, [3, 4, 5], 64)
    assert original["no_bucket"] and original["dry_run"]
    assert runs["defaults"]["flags"] == []
    assert set(record["ratios_original_over_defaults"]) == {"seconds_per_epoch", "wall_seconds", "time_to_target"}


def test_original_recipe_is_kims():
    """The pinned recipe still parses with train.py's flags and is Kim's: 100 filters of widths 3-5, batch 64, dropout 0.5."""
    import train

    args = train.parse_args(training.ORIGINAL_RECIPE)
    assert (args.num_filters, args.filter_widths, args.batch_size, args.epochs) == (100, [3, 4, 5], 64, 5)
    assert args.no_bucket and args.dropout == 0.5


def test_time_to_target_counts_data_setup_and_epochs_until_validation_reaches_it():
    history = [{"epoch": e, "seconds": 10.0, "val_accuracy": acc} for e, acc in ((1, 0.90), (2, 0.916), (3, 0.92))]
    metrics = {"history": history, "seconds": {"prepare_data": 5.0, "train": 32.0, "total": 40.0},
               "best_epoch": 3, "val_accuracy": 0.92, "test_accuracy": 0.917, "device": "cpu", "args": {}}
    summary = training.summarise(metrics, {"wall_seconds": 43.0}, target=0.915)
    assert summary["time_to_target_seconds"] == 5 + 2 + 10 + 10  # data, setup, epochs 1 and 2
    assert summary["target_epoch"] == 2
    assert training.summarise(metrics, {}, target=0.95)["time_to_target_seconds"] is None


def test_quick_mode_uses_the_synthetic_set_even_beside_a_local_copy(monkeypatch, tmp_path):
    local = common.synthetic_imdb(tmp_path / "local", n_train=10, n_test=10)  # stands for ../shared/data/imdb
    monkeypatch.setattr(common, "LOCAL_IMDB", local)
    with common.dataset_source(None, quick=True) as source:
        assert source != str(local)
        data = common.load_texts(source, ("train", "test"), {"test": 50})
    assert len(data["train"][0]) == common.QUICK_SIZES["train"] and len(data["test"][0]) == 50
    assert set(data["train"][1]) == {0, 1}
    with common.dataset_source(None, quick=False) as source:
        assert source == str(local)
    monkeypatch.setattr(common, "LOCAL_IMDB", tmp_path / "missing")
    with common.dataset_source(None, quick=False) as source:
        assert source == "stanfordnlp/imdb"
    with common.dataset_source("my/imdb", quick=True) as source:
        assert source == "my/imdb"


def test_train_step_quick(tmp_path):
    out = tmp_path / "train_step.json"
    train_step.main(["--quick", "--output", str(out)])
    record = read_record(out, "train_step")
    windows = record["config"]["sparse_backward_min_windows"]
    lengths = [int(length) for length in record["results"]]
    assert min(lengths) < windows <= max(lengths)  # both backward passes are timed
    for r in record["results"].values():
        assert r["pooled_conv_ms"] > 0 and r["conv1d_autograd_ms"] > 0
        assert r["dense_backward_ms"] > 0 and r["sparse_backward_ms"] > 0  # each backward forced at every length


@pytest.mark.parametrize("name", ["accuracy", "training", "inference", "memory", "train_step", "expansion",
                                  "span_labels", "lexicon", "neighbours"])
def test_scripts_run_as_files(name):
    done = subprocess.run([sys.executable, f"benchmarks/{name}.py", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout


def test_lexicon_quick(model_dir, tmp_path):
    out = tmp_path / "lexicon.json"
    lexicon.main(["--quick", "--model", model_dir, "--output", str(out)])
    record = read_record(out, "lexicon")
    (band, row), = record["results"].items()  # the tiny model's 31 words lie in the first band
    assert band == "ids 2 to 32" and row["words"] == 16 and row["positive"] == 8
    assert all(0 <= row[frame] <= 1 for frame in lexicon.FRAMES)


def test_lexicon_reads_afinn_one_word_entries_from_its_archive(tmp_path):
    import io
    import tarfile

    text = "good\t3\nbad\t-3\nmeh\t0\ncan't stand\t-3\nwell-known\t1\n".encode()
    archive = tmp_path / "afinn-0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("afinn-0.1/afinn/data/" + lexicon.LEXICON_FILE)
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    assert lexicon.read_afinn(archive) == {"good": 3, "bad": -3}


@pytest.mark.parametrize(("scores", "expected"), [([3, 2, 1, 0], 1.0), ([0, 1, 2, 3], 0.0), ([1, 3, 2, 0], 0.75)])
def test_lexicon_auc_hand_checked(scores, expected):
    # the first two words are positive: AUC is the share of (positive, negative) pairs the scores order right;
    # in the third case the positive scored 1 falls below the negative scored 2, one pair of four
    assert lexicon.auc([True, True, False, False], scores, min_words=2) == expected
    assert lexicon.auc([True, True, False, False], scores, min_words=3) is None


def test_neighbours_quick(model_dir, tmp_path):
    out = tmp_path / "neighbours.json"
    neighbours.main(["--quick", "--model", model_dir, "--output", str(out), "-k", "3", "great", "unheardof"])
    record = read_record(out, "neighbours")
    great, missing = record["results"]["great"], record["results"]["unheardof"]
    assert great["trained"] and great["glove"] and great["id"] > 1
    assert len(great["model"]) == len(great["glove_neighbours"]) == 3 and "great" not in great["model"]
    assert missing == {"id": None}


def test_nearest_words_by_cosine_hand_checked():
    import numpy as np

    vectors = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])  # cosine to "a": 0.995, 0, -1
    assert neighbours.nearest(vectors, ["a", "b", "c", "d"], "a", 2) == ["b", "c"]
    assert neighbours.nearest(vectors, ["a", "b", "c", "d"], "d", 3) == ["c", "b", "a"]
