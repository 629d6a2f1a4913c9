"""In-domain word vectors: word2vec (Mikolov et al., 2013) trained on IMDb's own text.

GloVe was fitted on Wikipedia and news; movie reviews use words their own way ("predictable",
"cheesy", "oscar"). Vectors learned from the 50,000 unlabelled reviews plus the training reviews
(never the validation or test text) give the filters a start in the reviews' own sense of words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from textcnn.glove import GloVe


def train_word2vec(documents: Sequence[Sequence[str]], dim: int, epochs: int = 5, window: int = 5,
                   min_count: int = 2, seed: int = 0, workers: int = 2) -> GloVe:
    """CBOW word2vec over ``documents`` (lists of tokens), in GloVe's container."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=documents,
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=0,  # CBOW: several times faster than skip-gram on a corpus this size
        epochs=epochs,
        seed=seed,
        workers=workers,
    )
    return GloVe(list(model.wv.index_to_key), model.wv.vectors.astype(np.float32))
