import numpy as np
import pytest
import torch

from textcnn import expansion
from textcnn.expansion import expanded_rows, new_words, with_rows
from textcnn.glove import GloVe
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.vocab import PAD, UNK, Vocab

# GloVe in two dimensions: "great" lies next to "good", "awful" next to "bad"
GLOVE = GloVe(["good", "bad", "great", "awful", "meh"],
              np.array([[1, 0], [-1, 0], [0.9, 0.1], [-0.9, -0.1], [0.1, 0.9]], dtype=np.float32))
TRAINED_WORDS = [PAD, UNK, "good", "bad"]
# training moved "good" by (1, 0) and "bad" by (0, 1)
TRAINED = np.array([[0, 0], [5, 5], [2, 0], [-1, 1]], dtype=np.float32)


def test_a_new_word_moves_as_its_nearest_trained_word_moved():
    rows = expanded_rows(TRAINED, TRAINED_WORDS, GLOVE, ["great", "awful"], neighbours=1)
    # by hand: great (0.9, 0.1) + good's move (1, 0); awful (-0.9, -0.1) + bad's move (0, 1)
    np.testing.assert_allclose(rows, [[1.9, 0.1], [-0.9, 0.9]], atol=1e-6)


def test_with_more_neighbours_a_new_word_follows_their_mean_move():
    rows = expanded_rows(TRAINED, TRAINED_WORDS, GLOVE, ["meh"], neighbours=2)
    np.testing.assert_allclose(rows, [[0.1 + 0.5, 0.9 + 0.5]], atol=1e-6)
    # more neighbours than trained words with a vector: all of them
    np.testing.assert_allclose(expanded_rows(TRAINED, TRAINED_WORDS, GLOVE, ["meh"], neighbours=50), rows)


def test_pad_and_unk_are_never_followed():
    glove = GloVe([*GLOVE.words, UNK], np.vstack([GLOVE.vectors, [[0.9, 0.1]]]).astype(np.float32))
    rows = expanded_rows(TRAINED, TRAINED_WORDS, glove, ["great"], neighbours=1)
    np.testing.assert_allclose(rows, [[1.9, 0.1]], atol=1e-6)  # good's move, not <unk>'s row


@pytest.mark.parametrize("chunk", [1, 2, 1024])
def test_the_rows_do_not_depend_on_how_many_words_are_compared_at_a_time(chunk, monkeypatch):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    glove = GloVe(words, rng.standard_normal((40, 3)).astype(np.float32))
    trained_words = [PAD, UNK, *words[:25]]
    trained = rng.standard_normal((27, 3)).astype(np.float32)
    monkeypatch.setattr(expansion, "CHUNK_WORDS", 1024)
    whole = expanded_rows(trained, trained_words, glove, words[25:], neighbours=3)
    monkeypatch.setattr(expansion, "CHUNK_WORDS", chunk)
    np.testing.assert_allclose(expanded_rows(trained, trained_words, glove, words[25:], neighbours=3), whole)


def test_mismatched_or_unfollowable_rows_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        expanded_rows(TRAINED[:3], TRAINED_WORDS, GLOVE, ["great"])
    with pytest.raises(ValueError, match="no trained word has a GloVe vector"):
        expanded_rows(np.zeros((3, 2), np.float32), [PAD, UNK, "unseen"], GLOVE, ["great"])


def test_new_words_are_glove_s_first_ones_that_the_vocabulary_lacks():
    vocab = Vocab([PAD, UNK, "good", "awful"])
    assert new_words(vocab, GLOVE, 4) == ["bad", "great"]
    assert new_words(vocab, GLOVE, 100) == ["bad", "great", "meh"]
    assert new_words(vocab, GLOVE, 0) == []


@pytest.mark.parametrize("seed", range(3))
def test_known_words_are_read_exactly_as_before(seed):
    torch.manual_seed(seed)
    model = TextCNN(TextCNNConfig(vocab_size=12, embedding_dim=4, filter_widths=(2, 3), num_filters=5, max_tokens=20)).eval()
    rows = np.random.default_rng(seed).standard_normal((3, 4)).astype(np.float32)
    expanded = with_rows(model, rows)
    assert expanded.config.vocab_size == 15 and not expanded.training
    ids = torch.randint(2, 12, (4, 9))
    torch.testing.assert_close(expanded(ids), model(ids), rtol=0, atol=0)
    torch.testing.assert_close(expanded.embedding.weight[12:], torch.from_numpy(rows))
    assert model.config.vocab_size == 12  # the trained model is left as it was
