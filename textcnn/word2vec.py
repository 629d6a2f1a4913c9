"""In-domain word vectors: word2vec (Mikolov et al., 2013) trained on IMDb's own text.

GloVe was fitted on Wikipedia and news; movie reviews use words their own way ("predictable",
"cheesy", "oscar"). Vectors learned from the 50,000 unlabelled reviews plus the training reviews
(never the validation or test text) give the filters a start in the reviews' own sense of words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from textcnn.glove import GloVe

GLOVE_SCALE = 0.69  # root-mean-square value of a coordinate of GloVe 6B.50d's 30k most frequent words


def train_word2vec(documents: Sequence[Sequence[str]], dim: int | None = None, epochs: int = 5, window: int = 5,
                   min_count: int = 2, seed: int = 0, workers: int = 2, init: GloVe | None = None,
                   fixed_below: int | None = None) -> GloVe:
    """CBOW word2vec over ``documents`` (lists of tokens), in GloVe's container.

    With ``init``, words it knows start from its vectors (and ``dim`` is its dimension): the
    general-English vectors are adapted to the reviews instead of learned from nothing.
    With ``fixed_below``, the words of ``init`` that ``documents`` use fewer times than that keep its
    vectors: a few dozen uses are too few to say more about a word than six billion tokens of general
    text did.

    Reproducible with ``workers=1``; with more, thread scheduling changes the result slightly.
    """
    from gensim.models import Word2Vec

    if init is not None:
        if dim not in (None, init.dim):
            raise ValueError(f"dim {dim} differs from the initial vectors' {init.dim}")
        dim = init.dim
    if dim is None:
        raise ValueError("give dim or init")
    model = Word2Vec(
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=0,  # CBOW: several times faster than skip-gram on a corpus this size
        epochs=epochs,
        seed=seed,
        workers=workers,
    )
    model.build_vocab(documents)
    if init is not None:
        known = {word: row for row, word in enumerate(init.words)}
        for word, index in model.wv.key_to_index.items():
            if word in known:
                model.wv.vectors[index] = init.vectors[known[word]]
        if fixed_below:
            # gensim's per-word learning-rate factors: 0 leaves a vector as it is
            model.wv.vectors_lockf = np.array([0.0 if word in known and model.wv.get_vecattr(word, "count") < fixed_below
                                               else 1.0 for word in model.wv.index_to_key], dtype=np.float32)
    model.train(documents, total_examples=model.corpus_count, epochs=model.epochs)
    return GloVe(list(model.wv.index_to_key), equal_lengths(model.wv.vectors))


def equal_lengths(vectors: np.ndarray) -> np.ndarray:
    """Every vector rescaled to GloVe's typical length (0.69 per dimension, 4.9 for 50d).

    word2vec's lengths grow with a word's frequency (median 2.4 but mean 4.0 over IMDb's top 30k
    words at 100d), so a few very frequent words would dominate the filters' inputs and the CNN
    trains slowly; GloVe's lengths vary far less.
    """
    lengths = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(lengths, 1e-8) * GLOVE_SCALE * np.sqrt(vectors.shape[1])).astype(np.float32)
