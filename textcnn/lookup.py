"""Batch prediction by table lookup: the same TextCNN, computed with additions instead of convolutions.

The convolution is linear in the embeddings. The pre-activation of filter f of width w on the
window that starts at token t is

    conv_w(x)[f, t] = b[w, f] + sum over k < w of  W[w, f, :, k] . e(x[t + k])

and each term ``W[w, :, :, k] . e(v)`` depends on one vocabulary word v alone. Computed once for
the whole vocabulary, it becomes a table with one row of F numbers per word and (width, offset)
slot; a window's pre-activations are then the sum of w looked-up rows, which ``embedding_bag``
adds without materialising them. For widths 3/4/5 that is 12 rows of F additions per token
instead of 12 * E * F multiply-adds (50x fewer operations at E = 50), and the result equals the
convolution up to float32 rounding.

The price is memory: vocabulary x sum(widths) x F float32 numbers, 823 MB for the bundled model's
57,125 words and 300 filters of widths 3/4/5. Batch prediction pays it; the app, which explains one
review at a time, keeps the convolutions. With ``int8`` each row is stored as 8-bit codes with its
own scale and offset (FBGEMM's row-wise quantisation, made for embedding tables): a quarter of
the memory (211 MB), lookups almost twice as fast since they are bound by memory traffic, and
probabilities that move by a few thousandths at most (docs/benchmarks.md).
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from textcnn.model import TextCNN
from textcnn.pooling import mask_padded_windows
from textcnn.vocab import PAD_ID

# padded tokens per lookup pass: the windows' sums of one pass stay in the CPU's cache for the max
# over time (2,048 was fastest on IMDb test here; 32,768 was 1.5-2x slower)
LOOKUP_BATCH_TOKENS = 2_048
# vocabulary words whose float32 rows are computed, then quantised, at a time (14 MB at 12 x 300)
INT8_BUILD_WORDS = 1_024
# texts max-pooled per call of the compiled kernel: their features (texts x 900 float32) stay small
KERNEL_TEXTS = 4_096
# the size of a transparent huge page on x86-64 and arm64 Linux
HUGE_PAGE_BYTES = 2 << 20


def _huge_page_tensor(shape: tuple[int, int]) -> torch.Tensor:
    """An uninitialised float32 CPU tensor in memory that Linux backs with 2 MB pages where it can.

    The table is read at random (one word's rows per token): with 4 KB pages nearly every lookup
    also misses the TLB; with huge pages the kernel ran 7 to 15% faster on 8,000 IMDb test reviews. Linux gives them
    to anonymous memory that asks (``madvise``, the common setting of transparent huge pages); the
    request is ignored elsewhere, and the memory is then ordinary.
    """
    size = shape[0] * shape[1] * 4
    if not hasattr(mmap, "MADV_HUGEPAGE") or size < HUGE_PAGE_BYTES:
        return torch.empty(shape)
    # private: shared anonymous memory is shmem, which follows another huge page setting (usually never)
    memory = mmap.mmap(-1, size + HUGE_PAGE_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # room to align
    memory.madvise(mmap.MADV_HUGEPAGE)
    raw = np.frombuffer(memory, dtype=np.uint8)  # keeps the mapping alive as long as the tensor
    skip = -raw.ctypes.data % HUGE_PAGE_BYTES
    return torch.from_numpy(raw[skip : skip + size].view(np.float32).reshape(shape))


class LookupTextCNN:
    """``model``'s eval-mode logits from precomputed per-word filter responses (``int8``: stored in 8 bits).

    The table is word-major (row ``v * S + slot``, S = sum of the widths) so that the 12 rows a
    token needs lie side by side in memory, which made the lookups 10% faster than one table per slot.
    """

    def __init__(self, model: TextCNN, int8: bool = False) -> None:
        config = model.config
        if int8 and model.embedding.weight.device.type != "cpu":
            raise ValueError("the 8-bit table runs on the CPU only (FBGEMM)")
        self.int8 = int8
        self.widths = config.filter_widths
        self.slots = sum(self.widths)  # one slot per (width, offset in the window)
        self.first_slot = [sum(self.widths[:i]) for i in range(len(self.widths))]
        with torch.no_grad():
            embeddings = model.embedding.weight.float()  # (V, E)
            kernels = torch.cat([conv.weight.float()[:, :, k] for conv in model.convs for k in range(conv.kernel_size[0])])  # (S*F, E)
            # (V, S*F) viewed as (V*S, F): row v*S + slot holds W[slot] . e(v)
            if not int8:
                table = (_huge_page_tensor((len(embeddings), len(kernels))) if embeddings.device.type == "cpu"
                         else embeddings.new_empty(len(embeddings), len(kernels)))
                self.table = torch.matmul(embeddings, kernels.T, out=table).view(-1, config.num_filters)
            else:  # (V*S, F + 8) uint8: each row's codes, then its float32 scale and offset; made a block
                # of words at a time, so the float32 table (4x the size) never exists whole
                self.table = torch.cat([
                    torch.ops.quantized.embedding_bag_byte_prepack(
                        (block @ kernels.T).reshape(-1, config.num_filters).contiguous())
                    for block in embeddings.split(INT8_BUILD_WORDS)
                ])
            self.biases = [conv.bias.detach().float() for conv in model.convs]  # (F,) each
            self.head_weight = model.head.weight.detach().float()  # (C, F_total)
            self.head_bias = model.head.bias.detach().float()  # (C,)

    @property
    def nbytes(self) -> int:
        return self.table.numel() * self.table.element_size()

    @torch.inference_mode()
    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits (B, C) for right-padded token ids (B, T), as ``TextCNN.forward`` in eval mode."""
        B, T = ids.shape
        lengths = (ids != PAD_ID).sum(dim=1)  # (B,) real tokens; padding is on the right
        if T < max(self.widths):  # every filter needs at least one full window, as in the model
            ids = F.pad(ids, (0, max(self.widths) - T), value=PAD_ID)  # (B, max width)
            T = ids.shape[1]
        rows = ids * self.slots  # (B, T) each token's first table row
        pooled = []
        for width, first_slot, bias in zip(self.widths, self.first_slot, self.biases):
            windows = T - width + 1
            # (B * windows, width): the table row of each token of each window, at its offset's slot
            bags = torch.stack([rows[:, k : k + windows] + (first_slot + k) for k in range(width)], dim=-1)
            sums = self._bag_sums(bags.view(-1, width))  # (B * windows, F)
            # (B, F, windows) pre-activations without the bias, as a view; padding masked as in the model
            sums = mask_padded_windows(sums.view(B, windows, -1).transpose(1, 2), lengths, width)
            pooled.append(sums.amax(dim=-1) + bias)  # (B, F) max over time; max(x) + b == max(x + b)
        features = F.relu(torch.cat(pooled, dim=1))  # (B, F_total)
        return F.linear(features, self.head_weight, self.head_bias)  # (B, C)

    @property
    def fused(self) -> bool:
        """Whether :meth:`logits_of` uses the compiled kernel: the float32 table on the CPU."""
        return not self.int8 and self.table.device.type == "cpu"

    @torch.inference_mode()
    def logits_of(self, sequences: Sequence[np.ndarray]) -> torch.Tensor:
        """Class logits (N, C) for N unpadded token-id arrays, as ``__call__`` gives for them padded,
        computed by :mod:`textcnn.pooling_kernel` (sums and max in one pass, no padding); float32 table
        on the CPU only (:attr:`fused`)."""
        return F.linear(self.features_of(sequences), self.head_weight, self.head_bias)  # (N, C)

    @torch.inference_mode()
    def features_of(self, sequences: Sequence[np.ndarray]) -> torch.Tensor:
        """The max-pooled ReLU features (N, F_total) of N unpadded token-id arrays, filters ordered width
        by width as in ``TextCNN.forward_features``: the compiled kernel's maxima plus the biases."""
        if not self.fused:
            raise ValueError("the compiled kernel reads the float32 table on the CPU")
        import numba

        from textcnn.pooling_kernel import max_pooled_window_sums

        numba.set_num_threads(min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))  # --threads counts here too
        table = self.table.numpy()
        widths = np.array(self.widths, dtype=np.int64)
        first_slots = np.array(self.first_slot, dtype=np.int64)
        bias = torch.cat(self.biases)  # (F_total,)
        features = []
        for i in range(0, len(sequences), KERNEL_TEXTS):
            block = sequences[i : i + KERNEL_TEXTS]
            lengths = np.fromiter(map(len, block), dtype=np.int64, count=len(block))
            starts = np.zeros_like(lengths)
            np.cumsum(lengths[:-1], out=starts[1:])
            ids = np.concatenate(block).astype(np.int64, copy=False)
            pooled = np.empty((len(block), len(self.widths) * table.shape[1]), dtype=np.float32)
            max_pooled_window_sums(table, self.slots, first_slots, widths, ids, starts, lengths, PAD_ID, pooled)
            features.append(F.relu(torch.from_numpy(pooled) + bias))  # (B, F_total): max(x) + b == max(x + b)
        return torch.cat(features) if features else torch.empty(0, len(bias))

    def strongest_window(self, ids: np.ndarray, feature: int) -> tuple[int, float]:
        """Where in the unpadded token ids ``ids`` filter ``feature`` (numbered as in :meth:`features_of`)
        finds its max-pooled window, and the window's ReLU activation: the first of equal windows, and
        the value :meth:`features_of` gives, since the same rows are added in the same order."""
        group, column = divmod(feature, self.table.shape[1])
        width, first_slot = self.widths[group], self.first_slot[group]
        windows = max(len(ids) - width + 1, 1)  # a text shorter than the filter has one window, as in the model
        padded = np.full(windows + width - 1, PAD_ID, dtype=np.int64)
        padded[: len(ids)] = ids
        table = self.table.numpy()
        sums = table[padded[:windows] * self.slots + first_slot, column]  # (windows,)
        for k in range(1, width):
            sums = sums + table[padded[k : k + windows] * self.slots + first_slot + k, column]
        at = int(np.argmax(sums))
        bias = np.float32(self.biases[group][column].item())  # added in float32, as features_of adds it
        return at, max(float(sums[at] + bias), 0.0)

    def _bag_sums(self, bags: torch.Tensor) -> torch.Tensor:
        """(N, F) sums of the table rows named by each row of ``bags`` (N, width)."""
        if not self.int8:
            return F.embedding_bag(bags, self.table, mode="sum")
        flat = bags.reshape(-1)
        offsets = torch.arange(0, flat.numel(), bags.shape[1], device=flat.device)  # (N,) where each bag starts
        return torch.ops.quantized.embedding_bag_byte_rowwise_offsets(self.table, flat, offsets, mode=0)
