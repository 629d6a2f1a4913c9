"""Shared fixtures (a tiny IMDb-shaped dataset, a tiny untrained model folder), and the skip of the
tests marked ``native_bf16`` (see pytest.ini) on CPUs without native bfloat16.

The synthetic reviews come from ``benchmarks.common``, which the quick benchmarks use too; the names
below are re-exported so that ``from conftest import make_reviews`` keeps working.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import FILLER, NEGATIVE, POSITIVE, make_reviews, synthetic_imdb  # noqa: F401 (re-exported)


def pytest_runtest_setup(item) -> None:
    if item.get_closest_marker("native_bf16"):
        import torch

        from textcnn.precision import native_bf16

        if not native_bf16(torch.device("cpu")):
            pytest.skip("this CPU has no native bfloat16: bf16 would silently be float32, so the comparison cannot fail")


@pytest.fixture(scope="session")
def tiny_imdb(tmp_path_factory) -> Path:
    """240 train, 80 test and 80 unlabelled synthetic reviews, laid out like the Hub's stanfordnlp/imdb."""
    return synthetic_imdb(tmp_path_factory.mktemp("imdb"), n_train=240, n_test=80)


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
