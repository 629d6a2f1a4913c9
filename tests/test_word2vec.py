import json

import numpy as np

import train
from textcnn.word2vec import train_word2vec


def test_learns_vectors_for_every_frequent_word():
    documents = [["good", "film", "great", "acting"], ["bad", "film", "awful", "acting"]] * 50
    vectors = train_word2vec(documents, dim=8, epochs=2, workers=1)
    assert sorted(vectors.words) == ["acting", "awful", "bad", "film", "good", "great"]
    assert vectors.vectors.shape == (6, 8) and vectors.vectors.dtype == np.float32


def test_train_py_with_in_domain_vectors_writes_a_model(tiny_imdb, tmp_path):
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--glove", "word2vec", "--embedding-dim", "12",
                "--output-dir", str(out), "--no-progress", "--num-proc", "1"])
    assert json.loads((out / "config.json").read_text())["embedding_dim"] == 12
    assert json.loads((out / "metrics.json").read_text())["glove_coverage"] > 0
