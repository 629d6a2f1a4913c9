import numpy as np
import pytest

from textcnn.data import EncodedSplit
from textcnn.prepared import Prepared, SettingsMismatch, is_prepared, load_prepared, save_prepared
from textcnn.vocab import Vocab


def split(lengths, targets=False, seed=0, vocab_size=70_000) -> EncodedSplit:
    rng = np.random.default_rng(seed)
    ids = [rng.integers(0, vocab_size, n) for n in lengths]
    ids[0][0] = vocab_size - 1  # the largest id decides the stored type
    soft = rng.dirichlet([1, 1], len(lengths)).astype(np.float32) if targets else None
    labels = soft.argmax(axis=1) if targets else rng.integers(0, 2, len(lengths))
    return EncodedSplit(ids, labels, soft)


def assert_same(a: EncodedSplit, b: EncodedSplit) -> None:
    assert len(a) == len(b)
    for x, y in zip(a.ids, b.ids):
        np.testing.assert_array_equal(x, y)
        assert y.dtype == np.int64
    np.testing.assert_array_equal(a.labels, b.labels)
    assert (a.targets is None) == (b.targets is None)
    if a.targets is not None:
        np.testing.assert_array_equal(a.targets, b.targets)


@pytest.mark.parametrize("trained_words", [None, 3])
@pytest.mark.parametrize("with_unlabelled", [True, False])
@pytest.mark.parametrize("with_vectors", [True, False])
@pytest.mark.parametrize("vocab_size", [2**15, 2**15 + 1, 70_000])  # ids are stored as int16 while they fit
def test_round_trip(tmp_path, with_unlabelled, with_vectors, vocab_size, trained_words):
    prepared = Prepared(
        labelled=split([3, 1, 7, 5000], vocab_size=vocab_size),
        unlabelled=split([2, 5], targets=True, seed=1) if with_unlabelled else EncodedSplit([], np.zeros(0, np.int64)),
        validation=split([4], seed=2),
        test=split([1, 1, 9, 2], seed=3),
        vocab=Vocab(["<pad>", "<unk>", "film", "géant"]),
        vectors=np.arange(8, dtype=np.float32).reshape(4, 2) if with_vectors else None,
        coverage=2 if with_vectors else 0,
        dim=2,
        teacher={"val_accuracy": 0.9} if with_unlabelled else None,
        trained_words=trained_words,
    )
    settings = {"seed": 0, "dataset": "imdb", "distill_reviews": None, "teacher_c": 1.0}
    save_prepared(tmp_path / "p", prepared, settings)
    assert is_prepared(tmp_path / "p")
    loaded = load_prepared(tmp_path / "p", settings)
    for name in ("labelled", "unlabelled", "validation", "test"):
        assert_same(getattr(prepared, name), getattr(loaded, name))
    assert loaded.vocab.itos == prepared.vocab.itos
    assert (loaded.vectors is None) == (not with_vectors)
    if with_vectors:
        np.testing.assert_array_equal(loaded.vectors, prepared.vectors)
    assert (loaded.coverage, loaded.dim, loaded.teacher) == (prepared.coverage, prepared.dim, prepared.teacher)
    assert loaded.trained_words == trained_words and loaded.trained_size == (trained_words or 4)


def test_other_settings_are_refused(tmp_path):
    prepared = Prepared(split([2]), EncodedSplit([], np.zeros(0, np.int64)), split([2]), split([2]),
                        Vocab(["<pad>", "<unk>"]), None, 0, 50, None)
    save_prepared(tmp_path / "p", prepared, {"seed": 0, "max_tokens": 1000})
    with pytest.raises(SettingsMismatch, match="max_tokens"):
        load_prepared(tmp_path / "p", {"seed": 0, "max_tokens": 400})


def test_missing_folder_is_not_prepared(tmp_path):
    assert not is_prepared(tmp_path / "nothing")
    assert not is_prepared(tmp_path)
