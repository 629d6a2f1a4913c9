"""Tokenizer throughput on real reviews, from a fresh cache (every chunk new) and a warm one.

    python benchmarks/tokenizer.py                      # 5,000 IMDb train reviews
    python benchmarks/tokenizer.py --against 737ca61    # also textcnn/tokenizer.py as of that commit, in turn
    python benchmarks/tokenizer.py --quick              # synthetic reviews, seconds (checks it runs)

Tokens per second of ``Tokenizer()(text, max_tokens=1000)`` over the reviews, as batch prediction
calls it, and of batch prediction's encoder (``IdEncoder``: tokens to vocabulary ids, memoised per
chunk). Each is the best of --repeats passes, in CPU seconds of this process (on a shared machine the
wall clock mostly measures the neighbours), with the wall time next to it. The train split is used:
nothing here is tuned on test reviews.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__, model=False)
    p.add_argument("--reviews", type=int, default=None, help="train reviews (default 5000; 200 with --quick)")
    p.add_argument("--repeats", type=int, default=3, help="passes of each measurement; the best counts")
    p.add_argument("--against", default=None, help="a git commit whose textcnn/tokenizer.py is measured too")
    args = p.parse_args(argv)
    args.reviews = args.reviews or (200 if args.quick else 5000)
    return args


def tokenizer_at(commit: str, folder: Path):
    """The Tokenizer class of textcnn/tokenizer.py as of ``commit``, loaded as a separate module."""
    source = subprocess.run(["git", "show", f"{commit}:textcnn/tokenizer.py"], cwd=common.REPO_ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = folder / "tokenizer_at_commit.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("tokenizer_at_commit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Tokenizer


def measure(make, texts: list[str], repeats: int) -> dict:
    """Best CPU and wall seconds of a pass with a fresh callable (cold) and of a second pass with it (warm)."""
    runs = {"cold": [], "warm": []}
    for _ in range(repeats):
        call = make()
        for phase in ("cold", "warm"):
            cpu, wall = time.process_time(), time.perf_counter()
            for text in texts:
                call(text)
            runs[phase].append((time.process_time() - cpu, time.perf_counter() - wall))
    return {phase: {"cpu_seconds": round(min(c for c, _ in r), 3), "wall_seconds": round(min(w for _, w in r), 3)}
            for phase, r in runs.items()}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from textcnn.pipeline import BUNDLED_MODEL, IdEncoder
    from textcnn.tokenizer import Tokenizer
    from textcnn.vocab import Vocab

    with common.dataset_source(args.dataset, args.quick) as source:
        texts, _ = common.load_texts(source, ("train",), {"train": args.reviews}, args.seed)["train"]
    vocab = Vocab.load(BUNDLED_MODEL / "vocab.json") if (BUNDLED_MODEL / "vocab.json").is_file() else None
    tokens = sum(min(len(Tokenizer()(text, max_tokens=1000)), 1000) for text in texts)
    candidates = {"Tokenizer": lambda: (lambda tokenizer: lambda text: tokenizer(text, max_tokens=1000))(Tokenizer())}
    if vocab is not None:
        candidates["IdEncoder (batch prediction)"] = lambda: IdEncoder(Tokenizer(), vocab, 1000)
    with tempfile.TemporaryDirectory() as folder:
        if args.against:
            Old = tokenizer_at(args.against, Path(folder))
            candidates[f"Tokenizer at {args.against}"] = lambda: (lambda t: lambda text: t(text, max_tokens=1000))(Old())
        results = {name: measure(make, texts, args.repeats) for name, make in candidates.items()}
    for r in results.values():
        for phase in r.values():
            phase["tokens_per_cpu_second"] = round(tokens / phase["cpu_seconds"])
    print(f"## Tokenizer throughput{' (QUICK: not a measurement)' if args.quick else ''}\n")
    print(f"{len(texts):,} train reviews, {tokens:,} tokens (at most 1,000 per review); best of {args.repeats}; "
          f"{common.describe_machine(common.machine())}\n")
    rows = [[name, f"{r['cold']['tokens_per_cpu_second']:,}", r["cold"]["wall_seconds"],
             f"{r['warm']['tokens_per_cpu_second']:,}", r["warm"]["wall_seconds"]] for name, r in results.items()]
    print(common.markdown_table(["", "fresh cache: tokens per CPU s", "wall s", "warm cache: tokens per CPU s", "wall s"],
                                rows))
    record = {"config": {"reviews": len(texts), "tokens": tokens, "repeats": args.repeats, "against": args.against,
                         "dataset": source}, "results": results, "target_met": {}}
    common.write_results("tokenizer", args, argv, record)
    return record


if __name__ == "__main__":
    main()
