"""The lookup table's windows summed and max-pooled in one compiled pass (numba), without padding.

``LookupTextCNN`` in torch writes every window's sums to memory (``embedding_bag``) and reads them
back for the max over time: for 25,000 IMDb reviews that is 6.6 million windows x 900 numbers
written and read once more. This kernel adds a window's rows and folds the sum into the running
maximum in the same loop, and skips the padding of a batch altogether; it adds the same rows in the
same order, so its maxima equal torch's up to float32 rounding.

Imported only where batch prediction needs it: importing numba takes about 0.4 s, and the first
call compiles the kernel (a few seconds), cached on disk next to this file (or in numba's user
cache) for later processes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(inline="always")
def _row(ids, start, length, t, pad_id, slots, slot):
    """The table row of the token at position ``t`` of a text, at ``slot``; past its end, ``<pad>``'s."""
    return (ids[start + t] if t < length else pad_id) * slots + slot


@njit(parallel=True, cache=True, boundscheck=False, nogil=True)
def max_pooled_window_sums(table, slots, first_slots, widths, ids, starts, lengths, pad_id, out):
    """``out[r, w*F:(w+1)*F]``: for text r and width w, the max over its windows of the sum of their rows.

    table (V*S, F) float32: row ``v * slots + slot`` is word v's response at one (width, offset) slot;
    ids: every text's token ids, one after another; text r is ``ids[starts[r]:starts[r] + lengths[r]]``.
    A text shorter than a width has one window, filled out with ``pad_id`` as in the model. Widths 3,
    4 and 5 (Kim's) add their rows in registers; any other width goes through a buffer.
    """
    F = table.shape[1]
    for r in prange(starts.shape[0]):  # the texts are shared out over the threads
        start, length = starts[r], lengths[r]
        sums = np.empty(F, np.float32)
        for w in range(widths.shape[0]):
            width, slot = widths[w], first_slots[w]
            best = out[r, w * F : (w + 1) * F]
            best[:] = -np.inf
            for t in range(max(length - width + 1, 1)):
                a = table[_row(ids, start, length, t, pad_id, slots, slot)]
                if width == 3:
                    b = table[_row(ids, start, length, t + 1, pad_id, slots, slot + 1)]
                    c = table[_row(ids, start, length, t + 2, pad_id, slots, slot + 2)]
                    for f in range(F):
                        best[f] = max(best[f], a[f] + b[f] + c[f])
                elif width == 4:
                    b = table[_row(ids, start, length, t + 1, pad_id, slots, slot + 1)]
                    c = table[_row(ids, start, length, t + 2, pad_id, slots, slot + 2)]
                    d = table[_row(ids, start, length, t + 3, pad_id, slots, slot + 3)]
                    for f in range(F):
                        best[f] = max(best[f], a[f] + b[f] + c[f] + d[f])
                elif width == 5:
                    b = table[_row(ids, start, length, t + 1, pad_id, slots, slot + 1)]
                    c = table[_row(ids, start, length, t + 2, pad_id, slots, slot + 2)]
                    d = table[_row(ids, start, length, t + 3, pad_id, slots, slot + 3)]
                    e = table[_row(ids, start, length, t + 4, pad_id, slots, slot + 4)]
                    for f in range(F):
                        best[f] = max(best[f], a[f] + b[f] + c[f] + d[f] + e[f])
                else:
                    sums[:] = a
                    for k in range(1, width):
                        row = table[_row(ids, start, length, t + k, pad_id, slots, slot + k)]
                        for f in range(F):
                            sums[f] += row[f]
                    for f in range(F):
                        best[f] = max(best[f], sums[f])
