"""The ways batch prediction can be computed, kept free of torch so the CLI's parser can name them,
and how the CLI picks one (and its tokenising processes) from the size of its input.

Explanations always use the float32 convolutions, whatever the method, so their terms add up exactly.
"""

from __future__ import annotations

import os

METHODS = {
    "conv": "the convolutions, float32",
    "conv-bf16": "the convolutions under bfloat16 autocast where the CPU (AVX512-BF16, AMX) or GPU has it natively: "
                 "twice conv's throughput on IMDb here, probabilities within 0.003 of conv's",
    "lookup": "every word's filter responses precomputed (textcnn.lookup): conv's probabilities up to float32 "
              "rounding, 4x its throughput here, and vocabulary x sum(widths) x filters floats of memory (823 MB for "
              "the bundled model)",
    "lookup-int8": "the same table in 8 bits per number (211 MB for the bundled model): 1.3x lookup's throughput here, "
                   "probabilities within 0.004 of conv's",
}
AUTO = "auto"

# Building the lookup table takes about a second and 823 MB for the bundled model, and each tokenising
# process starts its own spaCy (about a second); below this many reviews the convolutions, tokenised
# in-process, finish first (conv classifies about 600 reviews/s here, lookup about 2,400)
LARGE_INPUT_TEXTS = 1_000


def auto_method(texts: int) -> str:
    """The method for ``texts`` reviews: the exact lookup table once it pays for itself, else the convolutions."""
    return "lookup" if texts >= LARGE_INPUT_TEXTS else "conv"


def auto_workers(texts: int) -> int:
    """Tokenising processes for ``texts`` reviews: this machine's cores up to 2 for a large input, else none extra."""
    return min(2, os.cpu_count() or 1) if texts >= LARGE_INPUT_TEXTS else 1
