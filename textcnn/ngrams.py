"""What each filter detects: the training-set n-grams that activate it most.

Computed once at training time and saved with the model (``filter_ngrams.json``) so the demo can
show, for any filter, the phrases it responds to.
"""

from __future__ import annotations

import heapq

import torch

from textcnn.data import EncodedSplit, batch_indices, iterate_batches
from textcnn.model import TextCNN
from textcnn.precision import autocast
from textcnn.vocab import Vocab


@torch.no_grad()
def top_filter_ngrams(model: TextCNN, split: EncodedSplit, vocab: Vocab, device: torch.device, k: int = 10,
                      batch_size: int = 256, mixed_precision: bool = False) -> list[list[dict]]:
    """For each filter, up to ``k`` distinct n-grams with the highest max-pooled activation.

    Each entry is ``{"ngram": "...", "activation": float}``, strongest first. ``mixed_precision``
    runs the search under bf16 autocast, as training does: these n-grams describe the filters, they
    are not scores. On a 1,500-filter model (4,500 train reviews) that was 1.9x faster, the strongest
    activations within 0.5% of fp32's, the same strongest n-gram for 97.5% of the filters.
    """
    model.eval()
    num_features = model.config.num_features
    # per filter a min-heap of (activation, ngram); a dict keeps n-grams distinct
    heaps: list[list[tuple[float, str]]] = [[] for _ in range(num_features)]
    best: list[dict[str, float]] = [{} for _ in range(num_features)]
    min_width = model.config.min_length
    batches = batch_indices(split.lengths, batch_size, bucket=True)  # similar lengths: little padding
    for index, (ids, _) in zip(batches, iterate_batches(split, batches, min_width)):
        with autocast(device, mixed_precision):
            features = model.forward_features(ids.to(device))
        pooled, position = features.pooled.float().cpu(), features.position.cpu()
        widths = features.width.cpu().tolist()
        # only the top few documents per filter can matter: keep 2k candidates per batch
        top = pooled.topk(min(2 * k, pooled.shape[0]), dim=0)
        for f in range(num_features):
            w = widths[f]
            for value, row in zip(top.values[:, f].tolist(), top.indices[:, f].tolist()):
                if value <= 0:
                    break
                heap = heaps[f]
                if len(heap) >= k and value <= heap[0][0]:
                    break
                doc = split.ids[index[row]]
                start = int(position[row, f])
                ngram = " ".join(vocab.decode(doc[start : start + w].tolist()))
                if ngram in best[f]:
                    continue
                best[f][ngram] = value
                heapq.heappush(heap, (value, ngram))
                if len(heap) > k:
                    _, dropped = heapq.heappop(heap)
                    del best[f][dropped]
    return [
        [{"ngram": ngram, "activation": round(value, 4)} for value, ngram in sorted(heap, reverse=True)]
        for heap in heaps
    ]
