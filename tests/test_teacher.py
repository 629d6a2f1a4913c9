import numpy as np
import pytest
from conftest import make_reviews
from textcnn.teacher import NgramTeacher, ngrams


def test_ngrams_reference_case():
    assert ngrams(["not", "a", "good", "film"], 3) == [
        "not", "a", "good", "film", "not a", "a good", "good film", "not a good", "a good film",
    ]


@pytest.mark.parametrize("length", [0, 1, 2, 3, 7])
@pytest.mark.parametrize("max_n", [1, 2, 3])
def test_ngrams_count_every_window_once(length, max_n):
    tokens = [f"w{i}" for i in range(length)]
    grams = ngrams(tokens, max_n)
    assert len(grams) == sum(max(0, length - n + 1) for n in range(1, max_n + 1))
    assert grams[:length] == tokens  # unigrams first, in order


def tokenized(texts):
    return [text.lower().replace("<br /><br />", " ").replace(".", "").replace("!", "").split() for text in texts]


def test_teacher_learns_the_toy_reviews_and_gives_probabilities():
    texts, labels = make_reviews(200, seed=1)
    held_out, held_labels = make_reviews(60, seed=2)
    teacher = NgramTeacher().fit(tokenized(texts), labels)
    probs = teacher.predict_proba(tokenized(held_out))
    assert probs.shape == (60, 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
    assert (probs.argmax(axis=1) == np.array(held_labels)).mean() >= 0.95


def test_teacher_uses_word_order_through_bigrams():
    # "good" alone is positive, "not good" negative: only the bigram tells them apart
    docs = [["a", "good", "film"], ["not", "good", "at", "all"], ["really", "good"], ["sadly", "not", "good"]] * 10
    labels = [1, 0, 1, 0] * 10
    teacher = NgramTeacher(c=10.0).fit(docs, labels)
    probs = teacher.predict_proba([["a", "good", "film", "really"], ["sadly", "not", "good", "film"]])
    assert probs[0, 1] > 0.5 > probs[1, 1]


def test_teacher_needs_both_classes_and_a_fit():
    with pytest.raises(ValueError, match="both labels"):
        NgramTeacher().fit([["good"], ["fine"]], [1, 1])
    with pytest.raises(RuntimeError, match="fit"):
        NgramTeacher().predict_proba([["good"]])
