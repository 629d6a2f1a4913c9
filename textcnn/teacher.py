"""A bag-of-n-grams teacher whose soft labels on unlabelled reviews train the CNN (distillation).

The teacher is NB-weighted logistic regression over binary word 1-3 grams (the "NBSVM" of
Wang & Manning, "Baselines and Bigrams: Simple, Good Sentiment and Topic Classification",
ACL 2012, https://aclanthology.org/P12-2018, with logistic instead of hinge loss). It only
exists during training: its class probabilities on the unlabelled reviews become extra
training targets for the CNN (Hinton et al., "Distilling the Knowledge in a Neural Network",
2015, https://arxiv.org/abs/1503.02531). What ships is the CNN alone, so the app's exact
per-filter explanation still holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np


def ngrams(tokens: Sequence[str], max_n: int) -> list[str]:
    """Every n-gram of ``tokens`` for n = 1..``max_n``, words joined by spaces."""
    grams = list(tokens)
    for n in range(2, max_n + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


class NgramTeacher:
    """NB-weighted logistic regression on binary 1..``max_n``-gram features of token lists.

    N-grams are hashed into ``2**hash_bits`` columns (scikit-learn's HashingVectorizer): no
    vocabulary to build, so featurising is ~2.5x faster than counting n-grams into one, with
    the same validation accuracy at 2**24 columns. Columns seen in fewer than ``min_df``
    training documents are dropped.
    """

    def __init__(self, c: float = 1.0, max_n: int = 3, min_df: int = 2, smoothing: float = 1.0,
                 hash_bits: int = 24) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.linear_model import LogisticRegression

        self.min_df = min_df
        self.smoothing = smoothing
        self.vectorizer = HashingVectorizer(analyzer=partial(ngrams, max_n=max_n), n_features=2**hash_bits,
                                            alternate_sign=False, binary=True, norm=None, dtype=np.float32)
        self.logreg = LogisticRegression(C=c, solver="liblinear", max_iter=1000, random_state=0)
        self.columns: np.ndarray | None = None  # hashed column -> kept column, or -1
        self.ratios: np.ndarray | None = None  # NB log-count ratio of each kept column

    def fit(self, documents: Sequence[Sequence[str]], labels: Sequence[int]) -> NgramTeacher:
        """Fit on tokenised documents with labels 0/1."""
        labels = np.asarray(labels)
        if set(np.unique(labels).tolist()) != {0, 1}:
            raise ValueError("the teacher needs both labels, 0 and 1, among its training documents")
        x = self.vectorizer.transform(documents)
        # log-count ratio: how much more often each n-gram appears in positive than negative reviews
        pos = np.asarray(x[labels == 1].sum(axis=0)).ravel() + self.smoothing
        neg = np.asarray(x[labels == 0].sum(axis=0)).ravel() + self.smoothing
        ratios = np.log((pos / pos.sum()) / (neg / neg.sum()))
        # keep the columns of n-grams in at least min_df training documents, renumbered 0..k-1:
        # liblinear's cost grows with the number of columns, and 2**24 would make it 5x slower
        kept = np.flatnonzero(x.getnnz(axis=0) >= self.min_df)
        self.columns = np.full(x.shape[1], -1, dtype=np.int64)
        self.columns[kept] = np.arange(len(kept))
        self.ratios = ratios[kept].astype(np.float32)
        self.logreg.fit(self._features_of(x), labels)
        return self

    def _features_of(self, binary):
        """NB-weighted features: each kept n-gram present in a document holds its log-count ratio."""
        from scipy import sparse

        binary = binary.tocsr()
        columns = self.columns[binary.indices]
        present = columns >= 0
        rows = np.repeat(np.arange(binary.shape[0]), np.diff(binary.indptr))[present]
        return sparse.csr_matrix((self.ratios[columns[present]], (rows, columns[present])),
                                 shape=(binary.shape[0], len(self.ratios)))

    def predict_proba(self, documents: Sequence[Sequence[str]], prior: bool = True) -> np.ndarray:
        """(n, 2) class probabilities (label order 0, 1) for tokenised documents.

        ``prior=False`` leaves out the intercept: fitted on whole reviews, it holds what a review
        leans to beyond its n-grams, which on a sentence with a few n-grams would outweigh them."""
        if self.ratios is None:
            raise RuntimeError("fit the teacher first")
        features = self._features_of(self.vectorizer.transform(documents))
        if prior:
            return self.logreg.predict_proba(features).astype(np.float32)
        positive = 1 / (1 + np.exp(-(self.logreg.decision_function(features) - self.logreg.intercept_[0])))
        return np.stack([1 - positive, positive], axis=1).astype(np.float32)
