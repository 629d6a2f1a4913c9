import numpy as np
import pytest
import torch

from benchmarks.common import make_reviews
from textcnn.data import encode, pad_batch
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.ngrams import max_pooled_windows, top_filter_ngrams
from textcnn.vocab import Vocab


def toy_setup(data_seed: int, model_seed: int, **config):
    """(untrained model, encoded toy reviews, vocabulary)."""
    texts, labels = make_reviews(60, seed=data_seed)
    docs = [t.replace("<br /><br />", " ").split() for t in texts]
    vocab = Vocab.build(docs, max_size=100)
    split = encode(docs, labels, vocab, max_tokens=100)
    torch.manual_seed(model_seed)
    return TextCNN(TextCNNConfig(vocab_size=len(vocab), **config)).eval(), split, vocab


@pytest.mark.parametrize("lookup", [True, False])  # False: the convolutions, as on a GPU
@pytest.mark.parametrize("model_seed", range(4))
def test_top_ngrams_match_a_brute_force_search(model_seed, lookup):
    model, split, vocab = toy_setup(5, model_seed, embedding_dim=6, filter_widths=(2, 3), num_filters=3)
    result = top_filter_ngrams(model, split, vocab, torch.device("cpu"), k=4, batch_size=7, lookup=lookup)
    assert len(result) == 6
    with torch.no_grad():  # every window of every document, one document at a time: [width index][document]
        windows = [[torch.relu(conv(model.embedding(pad_batch([ids], width)).transpose(1, 2)))[0]
                    for ids in split.ids] for width, conv in zip(model.config.filter_widths, model.convs)]
    for f, entries in enumerate(result):
        width = model.config.filter_widths[f // 3]
        # each document's max-pooled window (the first, on ties), scored directly: what the filter
        # reports for that document; a document's runner-up windows never reach the pooled feature
        scores: dict[str, float] = {}
        for ids, doc_windows in zip(split.ids, windows[f // 3]):
            acts = doc_windows[f % 3, : max(1, len(ids) - width + 1)].tolist()
            start = max(range(len(acts)), key=acts.__getitem__)
            ngram = " ".join(vocab.decode(ids[start : start + width].tolist()))
            scores[ngram] = max(scores.get(ngram, 0.0), acts[start])
        expected = sorted((v for v in scores.values() if v > 0), reverse=True)[: len(entries)]
        # the lookup table's activations equal the convolutions' up to float32 rounding, then rounded to 4 places
        assert [e["activation"] for e in entries] == pytest.approx([round(v, 4) for v in expected], abs=1.01e-4)
        for entry in entries:
            assert np.isclose(scores[entry["ngram"]], entry["activation"], atol=1e-4)
        assert len({e["ngram"] for e in entries}) == len(entries)


@pytest.mark.native_bf16
def test_mixed_precision_search_finds_activations_close_to_fp32():
    model, split, vocab = toy_setup(6, 1, embedding_dim=8, filter_widths=(3, 4), num_filters=4)
    exact = top_filter_ngrams(model, split, vocab, torch.device("cpu"), k=3)
    # the convolutions under bf16 (as on a GPU); the lookup table would ignore mixed precision
    fast = top_filter_ngrams(model, split, vocab, torch.device("cpu"), k=3, mixed_precision=True, lookup=False)
    for a, b in zip(exact, fast):  # bf16 keeps 8 bits of mantissa: the strongest n-gram scores within 1%
        assert np.isclose(a[0]["activation"], b[0]["activation"], rtol=0.01, atol=1e-3)


@pytest.mark.parametrize("model_seed", range(3))
def test_max_pooled_windows_on_the_cpu_are_the_models_features(model_seed):
    model, split, vocab = toy_setup(7, model_seed, embedding_dim=6, filter_widths=(2, 3, 5), num_filters=4)
    pooled, strongest_window = max_pooled_windows(model, split, torch.device("cpu"))
    for d, ids in enumerate(split.ids):
        with torch.no_grad():
            features = model.forward_features(pad_batch([ids], 5))
        np.testing.assert_allclose(pooled[d], features.pooled[0].numpy(), rtol=1e-5, atol=1e-6)
        for f in range(model.config.num_features):
            start, activation = strongest_window(d, f)
            assert activation == pooled[d, f]  # the same rows added in the same order
            if activation > 0:  # only windows that fire are ever named; near-ties may round either way
                group, column = divmod(f, 4)
                with torch.no_grad():
                    scores = model.convs[group](model.embedding(pad_batch([ids], 5)).transpose(1, 2))[0, column]
                assert scores[start].item() == pytest.approx(activation, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("lookup", [True, False])
def test_a_filter_that_never_fires_describes_nothing(lookup):
    model, split, vocab = toy_setup(5, 0, embedding_dim=6, filter_widths=(2, 3), num_filters=3)
    with torch.no_grad():
        model.convs[0].bias[1] = -1e6  # the second filter of width 2 stays below zero everywhere
    result = top_filter_ngrams(model, split, vocab, torch.device("cpu"), k=4, lookup=lookup)
    assert result[1] == []
    assert all(len(entries) == 4 for f, entries in enumerate(result) if f != 1)
