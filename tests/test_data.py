from pathlib import Path

import numpy as np
import pytest
import torch

from textcnn.data import (
    DataError,
    EncodedSplit,
    batch_indices,
    concatenate,
    encode,
    iterate_batches,
    load_imdb,
    pad_batch,
    stratified_split,
    tokenize_dataset,
)
from textcnn.vocab import PAD_ID, UNK_ID, Vocab


def test_loads_a_local_copy_in_the_hub_layout(tiny_imdb):
    data = load_imdb(tiny_imdb, splits=("train", "test", "unsupervised"))
    assert (len(data["train"]), len(data["test"]), len(data["unsupervised"])) == (240, 80, 80)
    assert set(data["train"]["label"]) == {0, 1}
    assert set(data["unsupervised"]["label"]) == {-1}


def test_missing_split_is_a_clear_error(tmp_path):
    (tmp_path / "plain_text").mkdir()
    with pytest.raises(DataError, match="train"):
        load_imdb(tmp_path)


def test_tokenize_dataset_strips_html_and_lowercases(tiny_imdb):
    data = tokenize_dataset(load_imdb(tiny_imdb, splits=("test",))["test"])
    tokens = data[0]["tokens"]
    assert "<br" not in " ".join(tokens) and tokens == [t.lower() for t in tokens]
    assert "text" not in data.column_names


@pytest.mark.parametrize("fraction", [0.1, 0.25])
def test_stratified_split_is_disjoint_balanced_and_seeded(fraction):
    labels = [0] * 100 + [1] * 60
    train, val = stratified_split(labels, fraction, seed=3)
    assert set(train).isdisjoint(val) and len(train) + len(val) == 160
    assert np.bincount(np.asarray(labels)[val]).tolist() == [round(100 * fraction), round(60 * fraction)]
    assert (stratified_split(labels, fraction, seed=3)[1] == val).all()
    assert not (stratified_split(labels, fraction, seed=4)[1] == val).all()


def test_encode_truncates_and_maps_unknowns():
    vocab = Vocab(["<pad>", "<unk>", "a", "b"])
    split = encode([["a", "b", "c", "a"], []], [1, 0], vocab, max_tokens=3)
    assert split.ids[0].tolist() == [2, 3, UNK_ID]
    assert split.ids[1].tolist() == [PAD_ID]
    assert split.lengths.tolist() == [3, 1]


def test_within_reads_later_ids_as_unknown_and_keeps_the_rest():
    split = EncodedSplit([np.array([2, 5, 9]), np.array([7])], np.array([1, 0]), np.array([[0.2, 0.8], [0.9, 0.1]], np.float32))
    seen = split.within(6)
    assert [ids.tolist() for ids in seen.ids] == [[2, 5, UNK_ID], [UNK_ID]]
    assert seen.labels is split.labels and seen.targets is split.targets
    assert [ids.tolist() for ids in split.within(10).ids] == [[2, 5, 9], [7]]
    assert split.ids[0].tolist() == [2, 5, 9]  # the split itself is left as it was


def test_pad_batch_pads_right_to_a_minimum_length():
    batch = pad_batch([np.array([5, 6]), np.array([7])], min_length=4)
    assert batch.tolist() == [[5, 6, 0, 0], [7, 0, 0, 0]]


@pytest.mark.parametrize("bucket", [True, False])
def test_batches_cover_every_example_once(bucket):
    lengths = np.random.default_rng(0).integers(1, 500, size=1003)
    batches = batch_indices(lengths, 32, np.random.default_rng(1), bucket=bucket)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1003))
    assert max(len(b) for b in batches) == 32


def test_bucketing_reduces_padding():
    lengths = np.random.default_rng(0).integers(1, 1000, size=5000)
    def padding(bucket):
        batches = batch_indices(lengths, 50, np.random.default_rng(1), bucket=bucket)
        return sum(len(b) * lengths[b].max() - lengths[b].sum() for b in batches)
    assert padding(True) < padding(False) / 5


def test_soft_targets_follow_subsets_and_concatenation():
    vocab = Vocab.build([["good", "bad"]], 10, 1)
    hard = encode([["good"], ["bad"]], [1, 0], vocab, 5)
    soft = encode([["bad", "good"], ["good"], ["bad"]], None, vocab, 5,
                  targets=np.array([[0.3, 0.7], [0.1, 0.9], [0.8, 0.2]]))
    assert soft.labels.tolist() == [1, 1, 0]  # the most likely class
    both = concatenate(hard, soft)
    np.testing.assert_allclose(both.targets, [[0, 1], [1, 0], [0.3, 0.7], [0.1, 0.9], [0.8, 0.2]])
    assert both.labels.tolist() == [1, 0, 1, 1, 0]
    picked = both.subset([4, 0])
    np.testing.assert_allclose(picked.targets, [[0.8, 0.2], [0, 1]])
    assert [ids.tolist() for ids in picked.ids] == [both.ids[4].tolist(), both.ids[0].tolist()]
    assert concatenate(hard, hard).targets is None  # hard labels stay class indices


def test_batches_carry_soft_targets_when_the_split_has_them():
    vocab = Vocab.build([["good", "bad"]], 10, 1)
    soft = encode([["good"], ["bad"]], None, vocab, 5, targets=np.array([[0.2, 0.8], [0.6, 0.4]]))
    (ids, targets), = iterate_batches(soft, [np.array([1, 0])], 3)
    assert ids.shape == (2, 3) and targets.dtype == torch.float32
    np.testing.assert_allclose(targets.numpy(), [[0.6, 0.4], [0.2, 0.8]])
    hard = encode([["good"], ["bad"]], [1, 0], vocab, 5)
    (_, labels), = iterate_batches(hard, [np.array([1, 0])], 3)
    assert labels.tolist() == [0, 1]


def test_tokenization_fingerprint_follows_the_tokenizer_code_and_spacy(tmp_path, monkeypatch):
    import spacy

    import textcnn.tokenizer
    from textcnn.data import tokenization_fingerprint

    original = tokenization_fingerprint()
    assert tokenization_fingerprint() == original
    source = Path(textcnn.tokenizer.__file__).read_text(encoding="utf-8")
    commented = tmp_path / "commented.py"
    commented.write_text(f"# a comment changes no token\n\n{source}\n# nor does layout\n\n", encoding="utf-8")
    monkeypatch.setattr(textcnn.tokenizer, "__file__", str(commented))
    assert tokenization_fingerprint() == original
    changed = tmp_path / "changed.py"
    changed.write_text(source.replace(".lower()", ""), encoding="utf-8")  # a cleaning rule removed
    assert source != changed.read_text(encoding="utf-8")
    monkeypatch.setattr(textcnn.tokenizer, "__file__", str(changed))
    assert tokenization_fingerprint() != original
    monkeypatch.setattr(textcnn.tokenizer, "__file__", str(commented))
    monkeypatch.setattr(spacy, "__version__", "0.0.0")
    assert tokenization_fingerprint() != original


def test_a_changed_tokenizer_tokenises_again_instead_of_reading_the_cache(tiny_imdb, tmp_path, monkeypatch):
    import textcnn.data

    test = load_imdb(tiny_imdb, splits=("test",), cache_dir=tmp_path / "cache")["test"]
    first = tokenize_dataset(test)
    assert tokenize_dataset(test).cache_files == first.cache_files  # same tokenizer: read from the cache
    monkeypatch.setattr(textcnn.data, "tokenization_fingerprint", lambda: "other rules")
    second = tokenize_dataset(test)
    assert second.cache_files != first.cache_files
    assert second["tokens"] == first["tokens"]  # tokenised anew (by the same code here)


def test_check_splits_reads_hub_shaped_data():
    from datasets import Dataset

    from textcnn.data import check_splits

    good = {"train": Dataset.from_dict({"text": ["good film", "bad film"] * 10, "label": [1, 0] * 10}),
            "unsupervised": Dataset.from_dict({"text": ["a film"], "label": [-1]})}
    check_splits(good, 0.1)
    with pytest.raises(DataError, match="the test split has no 'label' column"):
        check_splits({**good, "test": Dataset.from_dict({"text": ["x"]})}, 0.1)
    with pytest.raises(DataError, match="the train split has labels \\[2\\]"):
        check_splits({"train": Dataset.from_dict({"text": ["a", "b"] * 10, "label": [1, 2] * 10})}, 0.1)
