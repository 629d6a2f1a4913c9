"""Time of one training step of the default model, by padded batch length, against plain autograd.

    python benchmarks/train_step.py            # train.py's model and batch size, lengths 16 to 800 tokens
    python benchmarks/train_step.py --quick    # a small model, seconds (checks it runs)
    python benchmarks/train_step.py --device cuda  # the same on a GPU (train.py's --device)

A step is what ``textcnn.training.train_epoch`` does per batch: forward under bfloat16 autocast
where the CPU has it, soft-label cross-entropy, backward, fused AdamW. "pooled conv" is the model as
it is (``textcnn.pooling``: the windows multiplied by the filters in one matrix product; a sparse
backward from the winning windows for texts of at least ``sparse_backward_min_windows(dtype)``
windows, which depends on the forward's precision);
"conv1d + autograd" computes the same maxima with ``torch.nn.functional.conv1d`` and lets autograd
differentiate them densely. "dense" and "sparse" force one backward of ``textcnn.pooling`` at every
length, which shows where the threshold between them belongs on this machine. Random token ids:
the time does not depend on which words they are. The median of --repeats timed steps after two
warm-up steps.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from unittest import mock

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

LENGTHS = (16, 32, 48, 64, 96, 128, 256, 400, 600, 800)  # IMDb reviews: 230 words on average, 1,000 tokens at most


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__, model=False)
    p.add_argument("--batch-size", type=int, default=50, help="texts per batch (train.py's default)")
    p.add_argument("--repeats", type=int, default=None, help="timed steps per length (default 15; 2 with --quick)")
    p.add_argument("--device", default="cpu", help="where the steps run: cpu or cuda (default: cpu)")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 15)
    return args


def conv1d_max_pool(x, weight, bias, lengths, positions=True):
    """The textbook pooled convolution, differentiated by autograd (the reference)."""
    import torch.nn.functional as F

    from textcnn.pooling import mask_padded_windows

    scores = mask_padded_windows(F.conv1d(x.transpose(1, 2), weight, bias), lengths, weight.shape[-1])
    return scores.max(dim=-1)


def step_milliseconds(model, ids, targets, repeats: int) -> float:
    import torch
    import torch.nn.functional as F

    from textcnn.precision import autocast

    device = ids.device
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    model.train()
    times = []
    for i in range(repeats + 2):
        started = time.perf_counter()
        with autocast(device, True):
            logits = model(ids)
        loss = F.cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":  # the step is queued, not done, until the GPU has run it
            torch.cuda.synchronize(device)
        if i >= 2:
            times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    common.set_threads(args.threads)
    import torch

    from textcnn import pooling
    from textcnn.model import TextCNN, TextCNNConfig
    from textcnn.pooling import SPARSE_BACKWARD_MIN_WINDOWS, SPARSE_BACKWARD_MIN_WINDOWS_HALF, sparse_backward_min_windows
    from textcnn.precision import native_bf16

    # train.py's model: 30,000 words, GloVe 50d, 300 filters each of widths 3, 4 and 5
    config = TextCNNConfig(vocab_size=30_000, embedding_dim=50, num_filters=300, dropout=0.2, embedding_dropout=0.05)
    lengths = LENGTHS
    if args.quick:
        config = TextCNNConfig(vocab_size=500, embedding_dim=8, num_filters=6)
        lengths = (16, SPARSE_BACKWARD_MIN_WINDOWS + 8)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as train.py: conv1d's kernels chosen per shape
    generator = torch.Generator().manual_seed(args.seed)
    results = {}
    for length in lengths:
        ids = torch.randint(2, config.vocab_size, (args.batch_size, length), generator=generator).to(device)
        targets = torch.softmax(torch.randn(args.batch_size, 2, generator=generator), dim=1).to(device)  # soft labels, as distillation
        torch.manual_seed(args.seed)
        pooled = step_milliseconds(TextCNN(config), ids, targets, args.repeats)
        torch.manual_seed(args.seed)
        with mock.patch("textcnn.model.conv_max_pool", conv1d_max_pool):
            reference = step_milliseconds(TextCNN(config), ids, targets, args.repeats)
        forced = {}
        for backward, windows in (("dense", 10**9), ("sparse", 1)):
            torch.manual_seed(args.seed)
            with mock.patch.object(pooling, "sparse_backward_min_windows", lambda dtype, windows=windows: windows):
                forced[backward] = step_milliseconds(TextCNN(config), ids, targets, args.repeats)
        results[str(length)] = {"pooled_conv_ms": round(pooled, 1), "conv1d_autograd_ms": round(reference, 1),
                                "speedup": round(reference / pooled, 2), "dense_backward_ms": round(forced["dense"], 1),
                                "sparse_backward_ms": round(forced["sparse"], 1)}
    print(f"## Training step time{' (QUICK: not a measurement)' if args.quick else ''}\n")
    print(f"batch {args.batch_size}, {config.num_filters} filters of widths {config.filter_widths}, "
          f"on {device.type}, bf16 autocast: {native_bf16(device)}; median of {args.repeats} steps; "
          f"{common.describe_machine(common.machine())}\n")
    rows = [[length, r["pooled_conv_ms"], r["conv1d_autograd_ms"], f"{r['speedup']:.2f}x", r["dense_backward_ms"],
             r["sparse_backward_ms"]] for length, r in results.items()]
    print(common.markdown_table(["tokens per text", "pooled conv (ms)", "conv1d + autograd (ms)", "speed-up",
                                 "dense backward (ms)", "sparse backward (ms)"], rows))
    dtype = torch.bfloat16 if native_bf16(device) else torch.float32
    print(f"\npooled conv takes the sparse backward from {sparse_backward_min_windows(dtype)} windows on "
          f"(a text of that many tokens minus the width plus one) in {str(dtype).removeprefix('torch.')}")
    record = {"config": {"device": device.type, "batch_size": args.batch_size, "num_filters": config.num_filters,
                         "filter_widths": list(config.filter_widths), "repeats": args.repeats,
                         "sparse_backward_min_windows": SPARSE_BACKWARD_MIN_WINDOWS,
                         "sparse_backward_min_windows_half": SPARSE_BACKWARD_MIN_WINDOWS_HALF},
              "results": results, "target_met": {}}
    common.write_results("train_step", args, argv, record)
    return record


if __name__ == "__main__":
    main()
