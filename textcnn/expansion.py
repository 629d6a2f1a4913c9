"""Vocabulary expansion: words the model never trained on, placed where their neighbours went.

A TextCNN trained on IMDb reads the words of its training vocabulary (the 30,000 most frequent);
every other word is ``<unk>``. GloVe knows 400,000 words, but training moved the known words'
vectors away from GloVe's, so an unseen word's GloVe vector is not where the filters expect a word
of its meaning. Vocabulary expansion maps the unseen words into the trained space (Mikolov et al.
2013, "Exploiting Similarities among Languages for Machine Translation", and Kiros et al. 2015,
"Skip-Thought Vectors", section 2.2, fit one linear map). Here the map is local: a new word moves
as its nearest trained words moved,

    e(new) = g(new) + mean over the k trained words v nearest to it in GloVe of (e(v) - g(v))

with g a GloVe vector and e a trained embedding row. The trained rows are not touched: a text made of
known words is read exactly as before, and the result is one TextCNN with a longer embedding table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from textcnn.glove import GloVe
from textcnn.model import TextCNN
from textcnn.vocab import PAD_ID, UNK_ID, Vocab

# trained words whose movement a new word follows (5 and 20 were compared on IMDb validation: 20)
NEIGHBOURS = 20
# new words compared with the trained ones at a time: (1,024 x 30,000) similarities, 123 MB
CHUNK_WORDS = 1_024


def new_words(vocab: Vocab, glove: GloVe, count: int) -> list[str]:
    """The words among GloVe's first ``count`` (its files list words by frequency) that ``vocab`` lacks."""
    return [word for word in glove.words[:count] if word not in vocab]


def expanded_rows(trained: np.ndarray, trained_words: Sequence[str], glove: GloVe, words: Sequence[str],
                  neighbours: int = NEIGHBOURS) -> np.ndarray:
    """(len(words), E) embedding rows for ``words``, each its GloVe vector moved by the mean movement
    (trained row minus GloVe vector) of its ``neighbours`` most similar trained words (cosine in GloVe).

    ``trained`` holds the trained rows of ``trained_words`` (the vocabulary, in id order); every word in
    ``words`` needs a GloVe vector. ``<pad>`` and ``<unk>`` never serve as neighbours.
    """
    if trained.shape != (len(trained_words), glove.dim):
        raise ValueError(f"trained rows {trained.shape} do not match {len(trained_words)} words of GloVe's size {glove.dim}")
    index = {word: row for row, word in enumerate(glove.words)}
    known = [i for i, word in enumerate(trained_words) if word in index and i not in (PAD_ID, UNK_ID)]
    if not known:
        raise ValueError("no trained word has a GloVe vector: nothing to follow")
    k = min(neighbours, len(known))
    before = glove.vectors[[index[trained_words[i]] for i in known]]  # (K, E)
    movement = trained[known] - before  # (K, E)
    before_unit = before / np.maximum(np.linalg.norm(before, axis=1, keepdims=True), 1e-12)
    start = glove.vectors[[index[word] for word in words]]  # (N, E); a KeyError names a word without a vector
    rows = np.empty_like(start)
    for first in range(0, len(words), CHUNK_WORDS):
        chunk = start[first:first + CHUNK_WORDS]
        similarity = (chunk / np.maximum(np.linalg.norm(chunk, axis=1, keepdims=True), 1e-12)) @ before_unit.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]  # (n, k), in no order: only their mean counts
        rows[first:first + CHUNK_WORDS] = chunk + movement[nearest].mean(axis=1)
    return rows.astype(np.float32, copy=False)


def with_rows(model: TextCNN, rows: np.ndarray) -> TextCNN:
    """A copy of ``model`` whose embedding table has ``rows`` appended (ids from its vocabulary size on)."""
    config = dataclasses.replace(model.config, vocab_size=model.config.vocab_size + len(rows))
    expanded = TextCNN(config).to(model.embedding.weight.device)
    state = model.state_dict()
    state["embedding.weight"] = torch.cat([state["embedding.weight"],
                                           torch.from_numpy(rows).to(state["embedding.weight"])])
    expanded.load_state_dict(state)
    return expanded.train(model.training)
