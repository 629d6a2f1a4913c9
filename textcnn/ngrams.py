"""What each filter detects: the training-set n-grams that activate it most.

Computed once at training time and saved with the model (``filter_ngrams.json``) so the demo can
show, for any filter, the phrases it responds to.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from textcnn.data import EncodedSplit, batch_indices, iterate_batches
from textcnn.lookup import LookupTextCNN
from textcnn.model import TextCNN
from textcnn.precision import autocast
from textcnn.vocab import Vocab


@torch.no_grad()
def top_filter_ngrams(model: TextCNN, split: EncodedSplit, vocab: Vocab, device: torch.device, k: int = 10,
                      batch_size: int = 256, mixed_precision: bool = False,
                      lookup: bool | None = None) -> list[list[dict]]:
    """For each filter, up to ``k`` distinct n-grams with the highest max-pooled activation.

    Each entry is ``{"ngram": "...", "activation": float}``, strongest first. Every document's
    max-pooled activation of every filter is computed first (:func:`max_pooled_windows`); then each
    filter visits the documents in that order, strongest first, and takes their strongest n-grams
    until it has ``k`` distinct ones: an n-gram first met in a document is met at its highest
    activation. ``mixed_precision`` runs the convolutions under bf16 autocast, as training does,
    where they are used (not with the lookup table): these n-grams describe the filters, they are
    not scores. ``lookup`` as in :func:`max_pooled_windows`.
    """
    model.eval()
    pooled, strongest_window = max_pooled_windows(model, split, device, batch_size, mixed_precision, lookup)
    order = np.argsort(-pooled, axis=0, kind="stable")  # (N, F) documents, strongest first, per filter
    widths = [w for w in model.config.filter_widths for _ in range(model.config.num_filters)]
    result = []
    for f, width in enumerate(widths):
        found: dict[str, float] = {}
        for d in order[:, f]:
            if len(found) == k or pooled[d, f] <= 0:  # a filter that never fires describes nothing
                break
            start, activation = strongest_window(d, f)
            ngram = " ".join(vocab.decode(split.ids[d][start : start + width].tolist()))
            found.setdefault(ngram, activation)
        strongest = sorted(found.items(), key=lambda item: item[1], reverse=True)
        result.append([{"ngram": ngram, "activation": round(value, 4)} for ngram, value in strongest])
    return result


@torch.no_grad()
def max_pooled_windows(model: TextCNN, split: EncodedSplit, device: torch.device, batch_size: int = 256,
                       mixed_precision: bool = False, lookup: bool | None = None,
                       ) -> tuple[np.ndarray, Callable[[int, int], tuple[int, float]]]:
    """(N, F) each document's max-pooled ReLU activation of every filter, and a function of (document,
    filter) that returns where that window starts and its activation.

    With ``lookup`` (the default on the CPU, where its compiled kernel runs) from the lookup table
    (:mod:`textcnn.lookup`): the convolutions' activations up to float32 rounding, several times
    faster, and only the windows asked for are located. Otherwise from the convolutions, every window
    located at once, in batches of similar length (little padding), under bf16 autocast with
    ``mixed_precision``.
    """
    if lookup is None:
        lookup = device.type == "cpu"
    if lookup:
        table = LookupTextCNN(model)
        return table.features_of(split.ids).numpy(), lambda d, f: table.strongest_window(split.ids[d], f)
    pooled = np.zeros((len(split), model.config.num_features), dtype=np.float32)
    positions = np.zeros((len(split), model.config.num_features), dtype=np.int64)
    batches = batch_indices(split.lengths, batch_size, bucket=True)
    for index, (ids, _) in zip(batches, iterate_batches(split, batches, model.config.min_length)):
        with autocast(device, mixed_precision):
            features = model.forward_features(ids.to(device))
        pooled[index] = features.pooled.float().cpu().numpy()
        positions[index] = features.position.cpu().numpy()
    return pooled, lambda d, f: (int(positions[d, f]), float(pooled[d, f]))
