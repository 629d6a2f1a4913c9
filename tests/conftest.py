"""Shared fixtures: a tiny IMDb-shaped parquet dataset and a tiny (untrained) model folder."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

POSITIVE = ["great", "wonderful", "brilliant", "moving", "superb", "loved", "masterpiece", "funny"]
NEGATIVE = ["awful", "boring", "terrible", "waste", "dull", "worst", "hated", "mess"]
FILLER = ["the", "film", "movie", "plot", "actors", "story", "was", "and", "a", "it", "this", "i"]


def make_reviews(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Labelled toy reviews whose sentiment words decide the label, with IMDb's <br /> breaks."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        cue = POSITIVE if label else NEGATIVE
        words = [rng.choice(FILLER) for _ in range(rng.randint(8, 40))]
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(cue))
        texts.append(" ".join(words[:5]) + ".<br /><br />" + " ".join(words[5:]) + "!")
        labels.append(label)
    return texts, labels


def write_imdb_layout(root: Path, n_train: int = 240, n_test: int = 80) -> Path:
    """A folder laid out like the Hub's stanfordnlp/imdb: plain_text/{split}-00000-of-00001.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "plain_text"
    folder.mkdir(parents=True)
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2), ("unsupervised", n_test, 3)):
        texts, labels = make_reviews(n, seed)
        if split == "unsupervised":
            labels = [-1] * n
        pq.write_table(pa.table({"text": texts, "label": labels}), folder / f"{split}-00000-of-00001.parquet")
    return root


@pytest.fixture(scope="session")
def tiny_imdb(tmp_path_factory) -> Path:
    return write_imdb_layout(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained but complete model folder (random weights, small vocabulary)."""
    import torch

    from textcnn.hub import save_model_folder
    from textcnn.model import TextCNN, TextCNNConfig
    from textcnn.vocab import PAD, UNK, Vocab

    torch.manual_seed(0)
    vocab = Vocab([PAD, UNK, *sorted(set(POSITIVE + NEGATIVE + FILLER + [".", "!", ","]))])
    model = TextCNN(TextCNNConfig(vocab_size=len(vocab), embedding_dim=8, filter_widths=(2, 3), num_filters=4, max_tokens=50))
    path = tmp_path_factory.mktemp("models") / "tiny"
    save_model_folder(model, path, vocab=vocab)
    return path
