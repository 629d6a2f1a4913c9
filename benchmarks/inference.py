"""Inference speed end to end (raw text in): batch throughput, and latency of one prediction with its explanation.

    python benchmarks/inference.py            # the bundled model, all 25,000 test reviews
    python benchmarks/inference.py --quick    # a small slice in seconds (what CI runs)

Batch: ``SentimentPipeline.predict`` over the test reviews, timed from raw text to predictions,
computed by ``--method`` (as ``python -m textcnn predict --method``; default: the float32 lookup
tables of ``textcnn.lookup``, as the CLI). For any method but ``conv`` the run also reports how well
its predictions agree with the float32 convolutions'.
The tokenizer memoises the chunks it has seen, so it is replaced by a fresh one (and the tokenising
worker processes are restarted, inside the timing) before every repeat: every review is new to it,
as in a real batch job. The median of --repeats runs counts.

Latency: ``SentimentPipeline.explain`` on --latency-reviews random test reviews, one call each,
timed one by one, with a fresh tokenizer warmed up on a few train reviews only (an app that has
just started). Median and 99th percentile are reported.

Baseline: a TF-IDF 1-2 gram logistic regression fitted on train in this run, on the same texts:
``predict_proba`` over the batch, and for one review its probabilities plus every n-gram's term
of the score (the linear model's explanation).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from textcnn.methods import METHODS  # noqa: E402


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__)
    p.add_argument("--repeats", type=int, default=None, help="timed passes over the batch (default 3; 1 with --quick)")
    p.add_argument("--latency-reviews", type=int, default=None,
                   help="reviews explained one at a time (default 500; 30 with --quick)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls on train reviews before timing")
    p.add_argument("--batch-size", type=int, default=None, help="the pipeline's batch size (default: its own)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="tokenising processes, as `predict --workers` (default: %(default)s)")
    p.add_argument("--method", choices=list(METHODS), default="lookup",
                   help="how batch predictions are computed, as `python -m textcnn predict --method` (default: %(default)s)")
    p.add_argument("--baseline-c", type=float, default=common.BASELINE_C, help="the baseline's inverse regularisation")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.latency_reviews = args.latency_reviews or (30 if args.quick else 500)
    return args


def fresh_tokenizer(pipeline) -> None:
    """Forget every chunk the tokenizers memoised (workers' too), so timed texts are new to them."""
    from textcnn.tokenizer import Tokenizer

    pipeline.close()
    pipeline.tokenizer = Tokenizer()


def time_calls(call, texts: list[str]) -> list[float]:
    times = []
    for text in texts:
        started = time.perf_counter()
        call(text)
        times.append(time.perf_counter() - started)
    return times


def batch_report(seconds: list[float], reviews: int) -> dict:
    median = statistics.median(seconds)
    return {"reviews": reviews, "repeats": len(seconds), "seconds": [round(s, 3) for s in seconds],
            "reviews_per_second": round(reviews / median, 1)}


def bench_model(pipeline, texts: list[str], warmup: list[str], sample: list[str], repeats: int) -> dict:
    pipeline.predict(warmup)  # first calls pay for lazy initialisation in torch
    runs = []
    for _ in range(repeats):
        fresh_tokenizer(pipeline)
        with common.Stopwatch() as t:
            pipeline.predict(texts)
        runs.append(t.seconds)
    fresh_tokenizer(pipeline)
    with common.Stopwatch() as tokenizing:  # the share of the batch time that is tokenisation
        for text in texts:
            pipeline.encode(text)
    batch = {**batch_report(runs, len(texts)), "batch_size": pipeline.batch_size, "workers": pipeline.workers,
             "tokenize_seconds": round(tokenizing.seconds, 3)}

    fresh_tokenizer(pipeline)
    for text in warmup:
        pipeline.explain(text)
    return {"batch": batch, "explain_latency": common.latency_summary(time_calls(pipeline.explain, sample))}


def bench_baseline(baseline, texts: list[str], warmup: list[str], sample: list[str], repeats: int) -> dict:
    baseline.predict_proba(warmup)
    runs = []
    for _ in range(repeats):
        with common.Stopwatch() as t:
            baseline.predict_proba(texts)
        runs.append(t.seconds)
    for text in warmup:
        baseline.explain(text)
    return {"batch": batch_report(runs, len(texts)), "explain_latency": common.latency_summary(time_calls(baseline.explain, sample))}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    common.set_threads(args.threads)
    info = common.machine()
    pipeline, load_seconds = common.load_pipeline(args.model, method=args.method)
    if args.batch_size:
        pipeline.batch_size = args.batch_size
    pipeline.workers = args.workers
    with common.dataset_source(args.dataset, args.quick) as source:
        data = common.load_texts(source, ("train", "test"), common.QUICK_SIZES if args.quick else None, args.seed)
    (train_texts, train_labels), (test_texts, _) = data["train"], data["test"]
    rng = random.Random(args.seed)
    sample = rng.sample(test_texts, min(args.latency_reviews, len(test_texts)))
    warmup = rng.sample(train_texts, min(args.warmup, len(train_texts)))

    model = {"model": args.model, "load_seconds": round(load_seconds, 2), "method": args.method,
             "lookup_table_mb": round(pipeline.lookup.nbytes / 1e6, 1) if pipeline.lookup else None,
             **bench_model(pipeline, test_texts, warmup, sample, args.repeats)}
    if args.method != "conv":  # how often the label differs from the fp32 convolutions', and by how much
        fast = pipeline.predict(test_texts)
        pipeline.method = "conv"
        exact = pipeline.predict(test_texts)
        model["vs_fp32_convolutions"] = {
            "label_agreement": sum(a.label == b.label for a, b in zip(fast, exact)) / len(exact),
            "max_abs_prob_diff": max(abs(a.probabilities["pos"] - b.probabilities["pos"]) for a, b in zip(fast, exact)),
        }
    pipeline.close()
    with common.Stopwatch() as fitting:
        baseline = common.TfidfBaseline(args.baseline_c).fit(train_texts, train_labels)
    tfidf = {"C": args.baseline_c, "fit_seconds": round(fitting.seconds, 2), "features": baseline.features,
             **bench_baseline(baseline, test_texts, warmup, sample, args.repeats)}

    met = {
        "batch_reviews_per_second": model["batch"]["reviews_per_second"] >= common.TARGETS["batch_reviews_per_second"],
        "explain_median_ms": model["explain_latency"]["median_ms"] <= common.TARGETS["explain_median_ms"],
    }
    print(f"## Inference, end to end{' (QUICK: a small slice, not a measurement)' if args.quick else ''}\n")
    print(f"batch: {len(test_texts):,} test reviews, median of {args.repeats} run(s), cold tokenizer cache; "
          f"latency: {len(sample)} test reviews one at a time; {common.describe_machine(info)}\n")
    rows = []
    for name, r in ((f"TextCNN ({args.model})", model), ("TF-IDF 1-2 grams + logistic regression", tfidf)):
        lat = r["explain_latency"]
        rows.append([name, f"{r['batch']['reviews_per_second']:,.0f}", lat["median_ms"], lat["p90_ms"], lat["p99_ms"],
                     lat["max_ms"]])
    print(common.markdown_table(
        ["model", "batch reviews/s", "explain median ms", "p90 ms", "p99 ms", "max ms"], rows))
    b = model["batch"]
    print(f"\nTextCNN batch ({args.method}): tokenising alone (one process) takes {b['tokenize_seconds']:.2f} s; the batch took "
          f"{statistics.median(b['seconds']):.2f} s (batch size {b['batch_size']}, {b['workers']} tokenising process(es)).")
    if model["lookup_table_mb"]:
        print(f"The lookup table holds {model['lookup_table_mb']:,.0f} MB.")
    if "vs_fp32_convolutions" in model:
        agreement = model["vs_fp32_convolutions"]
        print(f"Against the float32 convolutions: the same label for {100 * agreement['label_agreement']:.3f}% of the "
              f"reviews; P(pos) differs by at most {agreement['max_abs_prob_diff']:.2g}.")
    print(f"Targets: >= {common.TARGETS['batch_reviews_per_second']:,.0f} reviews/s: "
          f"{'met' if met['batch_reviews_per_second'] else 'NOT met'}; explain median <= "
          f"{common.TARGETS['explain_median_ms']:g} ms: {'met' if met['explain_median_ms'] else 'NOT met'}.")
    results = {
        "config": {"model": args.model, "dataset": source, "test_reviews": len(test_texts),
                   "latency_reviews": len(sample), "warmup": len(warmup), "repeats": args.repeats},
        "results": {"textcnn": model, "tfidf_logreg": tfidf},
        "target_met": met,
    }
    common.write_results("inference", args, argv, results, info)
    return results


if __name__ == "__main__":
    main()
