import json

import numpy as np

import pytest

import train
from textcnn.glove import GloVe
from textcnn.word2vec import GLOVE_SCALE, equal_lengths, train_word2vec

DOCUMENTS = [["good", "film", "great", "acting"], ["bad", "film", "awful", "acting"]] * 50


def test_learns_vectors_for_every_frequent_word():
    vectors = train_word2vec(DOCUMENTS, dim=8, epochs=2, workers=1)
    assert sorted(vectors.words) == ["acting", "awful", "bad", "film", "good", "great"]
    assert vectors.vectors.shape == (6, 8) and vectors.vectors.dtype == np.float32


def test_train_py_with_in_domain_vectors_writes_a_model(tiny_imdb, tmp_path):
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--glove", "word2vec", "--embedding-dim", "12",
                "--output-dir", str(out), "--no-progress", "--num-proc", "1"])
    assert json.loads((out / "config.json").read_text())["embedding_dim"] == 12
    assert json.loads((out / "metrics.json").read_text())["glove_coverage"] > 0


@pytest.mark.parametrize("dim", [1, 8, 50])
def test_every_vector_gets_glove_s_typical_length(dim):
    vectors = np.random.default_rng(0).normal(size=(20, dim)) * np.arange(1, 21)[:, None]  # lengths 1x..20x
    lengths = np.linalg.norm(equal_lengths(vectors), axis=1)
    np.testing.assert_allclose(lengths, GLOVE_SCALE * np.sqrt(dim), rtol=1e-5)


def test_starts_from_the_given_vectors():
    rng = np.random.default_rng(0)
    init = GloVe(["good", "film", "unused"], rng.normal(size=(3, 6)).astype(np.float32))
    adapted = train_word2vec(DOCUMENTS, init=init, epochs=2, workers=1)
    scratch = train_word2vec(DOCUMENTS, dim=6, epochs=2, workers=1)
    assert adapted.dim == 6 and "unused" not in adapted.words  # the reviews' words, in init's size

    def cosine_to_init(vectors: GloVe, word: str) -> float:
        a, b = vectors.vectors[vectors.words.index(word)], init.vectors[init.words.index(word)]
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    for word in ("good", "film"):  # a few small updates away from where they started
        assert cosine_to_init(adapted, word) > 0.9 > cosine_to_init(scratch, word)


def test_init_and_a_different_dim_conflict():
    with pytest.raises(ValueError, match="differs"):
        train_word2vec(DOCUMENTS, dim=4, init=GloVe(["good"], np.ones((1, 6), np.float32)), workers=1)


def test_train_py_adapts_glove_to_the_reviews(tiny_imdb, tmp_path, monkeypatch):
    words = ["great", "awful", "film", "the"]
    monkeypatch.setattr(train, "load_glove", lambda name: GloVe(words, np.eye(4, 5, dtype=np.float32)))
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--adapt-embeddings", "--output-dir", str(out),
                "--no-progress", "--num-proc", "1"])
    assert json.loads((out / "config.json").read_text())["embedding_dim"] == 5


def test_adapting_needs_pretrained_vectors(tiny_imdb, tmp_path):
    with pytest.raises(SystemExit, match="adapt"):
        train.main(["--dataset", str(tiny_imdb), "--dry-run", "--adapt-embeddings", "--glove", "none",
                    "--output-dir", str(tmp_path / "m")])


def test_random_embeddings_are_not_adapted(tiny_imdb, tmp_path):
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--glove", "none", "--output-dir",
                          str(tmp_path / "m"), "--no-progress", "--num-proc", "1"])
    assert metrics["args"]["adapt_embeddings"] is False



def test_one_worker_is_reproducible_across_processes():
    import os
    import subprocess
    import sys

    # the documents are written into the script: importing this test module would cost each process torch
    script = (f"import sys; from textcnn.word2vec import train_word2vec; documents = {DOCUMENTS!r}; "
              "sys.stdout.write(repr(train_word2vec(documents, dim=4, epochs=2, workers=1).vectors.tolist()))")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2)}
    assert len(runs) == 1


def test_words_used_fewer_times_than_fixed_below_keep_their_initial_direction():
    rng = np.random.default_rng(0)
    documents = [*DOCUMENTS, *[["rare", "film", "great", "acting"]] * 5]  # "rare" 5 times, the others 50 or more
    init = GloVe(["good", "film", "rare"], rng.normal(size=(3, 6)).astype(np.float32))
    fixed = train_word2vec(documents, init=init, epochs=5, workers=1, fixed_below=10)
    moved = train_word2vec(documents, init=init, epochs=5, workers=1)

    def direction(vectors: GloVe, word: str) -> np.ndarray:
        row = vectors.vectors[vectors.words.index(word)]
        return row / np.linalg.norm(row)

    start = init.vectors[2] / np.linalg.norm(init.vectors[2])
    np.testing.assert_allclose(direction(fixed, "rare"), start, atol=1e-6)  # rescaled, never moved
    assert not np.allclose(direction(moved, "rare"), start, atol=1e-5)  # a few small updates without it
    assert not np.allclose(direction(fixed, "good"), init.vectors[0] / np.linalg.norm(init.vectors[0]), atol=1e-5)


@pytest.mark.parametrize(("argv", "message"), [
    (["--adapt-fixed-below", "100", "--glove", "none"], "use it with --adapt-embeddings"),
    (["--adapt-fixed-below", "100", "--no-adapt-embeddings"], "use it with --adapt-embeddings"),
    (["--adapt-fixed-below", "1"], "2 or more, got 1"),
])
def test_adapt_fixed_below_needs_the_adaptation_and_a_count(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
    assert train.parse_args(["--adapt-fixed-below", "100"]).resolved().adapt_fixed_below == 100
