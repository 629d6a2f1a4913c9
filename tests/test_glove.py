import numpy as np
import pytest

from textcnn.glove import embedding_matrix, load_glove, read_glove_text
from textcnn.vocab import PAD, PAD_ID, UNK, Vocab


@pytest.fixture
def glove_file(tmp_path):
    path = tmp_path / "tiny.glove.txt"
    path.write_text("the 0.1 0.2 0.3\ngood 1.0 -1.0 0.5\nbad -1.0 1.0 -0.5\n", encoding="utf-8")
    return path


def test_reads_a_local_glove_text_file(glove_file):
    glove = load_glove(glove_file)
    assert glove.words == ["the", "good", "bad"]
    assert glove.dim == 3
    np.testing.assert_allclose(glove.vectors[1], [1.0, -1.0, 0.5])


def test_embedding_matrix_copies_vectors_and_reports_coverage(glove_file):
    glove = read_glove_text(glove_file)
    vocab = Vocab([PAD, UNK, "good", "movie", "bad"])
    matrix, found = embedding_matrix(vocab, glove, seed=0)
    assert matrix.shape == (5, 3)
    assert found == 2
    np.testing.assert_array_equal(matrix[PAD_ID], 0.0)
    np.testing.assert_allclose(matrix[2], glove.vectors[1])
    np.testing.assert_allclose(matrix[4], glove.vectors[2])
    assert np.abs(matrix[3]).sum() > 0  # unknown words get a random, learnable vector


def test_malformed_line_is_an_error(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("a 1 2 3\nb 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":2:"):
        read_glove_text(path)


def test_unknown_source_is_an_error():
    with pytest.raises(ValueError, match="unknown GloVe source"):
        load_glove("6B.7d")


def test_packaged_50d_vectors_are_the_real_glove():
    glove = load_glove("6B.50d")
    assert glove.vectors.shape == (400_000, 50)
    index = {w: i for i, w in enumerate(glove.words[:1000])}
    good, great, bad = (glove.vectors[index[w]] for w in ("good", "great", "bad"))
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(good, great) > 0.7 and glove.words[0] == "the"
    assert cos(good, bad) > cos(great, np.roll(great, 7))  # structure, not noise
