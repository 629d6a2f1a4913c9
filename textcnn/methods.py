"""The ways batch prediction can be computed, kept free of torch so the CLI's parser can name them.

Explanations always use the float32 convolutions, whatever the method, so their terms add up exactly.
"""

METHODS = {
    "conv": "the convolutions, float32",
    "conv-bf16": "the convolutions under bfloat16 autocast where the CPU (AVX512-BF16, AMX) or GPU has it natively: "
                 "twice conv's throughput on IMDb here, probabilities within 0.003 of conv's",
    "lookup": "every word's filter responses precomputed (textcnn.lookup): conv's probabilities up to float32 "
              "rounding, 4x its throughput here, and vocabulary x sum(widths) x filters floats of memory (432 MB for "
              "the bundled model)",
    "lookup-int8": "the same table in 8 bits per number (111 MB for the bundled model): 1.3x lookup's throughput here, "
                   "probabilities within 0.004 of conv's",
}
