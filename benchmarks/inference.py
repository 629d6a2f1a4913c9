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

Processes, timed from start to exit as a user runs them (wall time, and the peak RSS of the largest
process, from ``wait4``), each the median of --process-repeats runs, taken in turn:
- cold start: ``python -m textcnn predict`` on a 5-line file (the CLI's defaults: the convolutions,
  no lookup table, no worker processes) next to ``python -c "import torch, spacy"``, the floor any
  process that imports the model's libraries pays;
- a large batch: ``python -m textcnn predict`` (its defaults: the lookup table and tokenising
  processes for an input this large) on the test reviews written one per line, next to
  ``benchmarks/tfidf_predict.py``, a process that loads the TF-IDF pipeline fitted above (pickled;
  its fitting is not timed, as the CLI's model was trained beforehand) and writes the same JSON
  lines. The ratio of the two times says how fast the CLI is against the baseline (goal: >= 1).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import statistics
import subprocess
import sys
import tempfile
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
    p.add_argument("--process-repeats", type=int, default=None,
                   help="runs of each timed process (default 3; 1 with --quick)")
    p.add_argument("--processes-only", action="store_true",
                   help="time only the processes (cold start, CLI against the TF-IDF process); results go to "
                        "inference-processes.json unless --output says")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.process_repeats = args.process_repeats or (1 if args.quick else 3)
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
    tokens = 0
    with common.Stopwatch() as tokenizing:  # the share of the batch time that is tokenisation
        for text in texts:
            tokens += len(pipeline.encode(text)[0])
    batch = {**batch_report(runs, len(texts)), "batch_size": pipeline.batch_size, "workers": pipeline.workers,
             "tokenize_seconds": round(tokenizing.seconds, 3), "tokens": tokens,
             "tokens_per_second": round(tokens / tokenizing.seconds)}

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


FIVE_REVIEWS = [
    "A wonderful, moving film. The performances are superb and I loved every minute of it.",
    "The worst movie I have seen in years: boring, badly acted and a complete waste of time.",
    "It was okay, I guess. Some good moments, but the plot didn't hold together.",
    "Don't bother -- a by-the-numbers sequel with none of the original's charm!!",
    "10/10 would watch again :)",
]


# Runs a command and reports its wall time and peak RSS. The measured command is started from this
# small process, not from the benchmark: Linux carries a parent's peak RSS over fork and exec into the
# child's, so a child of the benchmark (1 GB with its model and data) would report at least that much.
LAUNCHER = """
import json, os, subprocess, sys, time
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    started = time.perf_counter()
    process = subprocess.Popen(sys.argv[3:], stdout=out, stderr=err)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_rss_kib": usage.ru_maxrss, "status": os.waitstatus_to_exitcode(status)}))
"""


def run_process(argv: list[str], stdout_path: Path) -> dict:
    """Run ``argv`` from the repo root; its wall time and the peak RSS of its largest process (wait4)."""
    env = {**os.environ, "PYTHONPATH": str(common.REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    stderr_path = stdout_path.with_suffix(".err")
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, str(stdout_path), str(stderr_path), *argv],
                              capture_output=True, text=True, env=env, cwd=common.REPO_ROOT, check=True)
    result = json.loads(launched.stdout)
    if result["status"] != 0:
        sys.exit(f"error: {subprocess.list2cmdline(argv)} exited with {result['status']}:\n"
                 f"{stderr_path.read_text(errors='replace')[-3000:]}")
    return {"seconds": result["seconds"], "peak_rss_mb": result["peak_rss_kib"] / 1024}


def median_runs(commands: dict[str, list[str]], repeats: int, workdir: Path, lines: int) -> dict:
    """Each command run ``repeats`` times, in turn; medians of time and peak RSS. Checks one output line per input line."""
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            output = workdir / f"{name}.out"
            runs[name].append(run_process(argv, output))
            written = sum(1 for _ in output.open("rb"))
            if lines and written != lines:
                sys.exit(f"error: {name} wrote {written} lines for {lines} reviews")
    return {name: {"command": subprocess.list2cmdline(commands[name]),
                   "seconds": round(statistics.median(r["seconds"] for r in rs), 3),
                   "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in rs), 1),
                   "runs_seconds": [round(r["seconds"], 3) for r in rs]}
            for name, rs in runs.items()}


def bench_processes(model: str, baseline, test_texts: list[str], repeats: int) -> dict:
    """The CLI's cold start on 5 lines, and CLI against the TF-IDF process on the whole batch, end to end."""
    cli = [sys.executable, "-m", "textcnn", "predict", "--model", model]
    with tempfile.TemporaryDirectory(prefix="inference-processes-") as root:
        workdir = Path(root)
        five = workdir / "five.txt"
        five.write_text("\n".join(FIVE_REVIEWS) + "\n", encoding="utf-8")
        cold = median_runs({"import_torch_spacy": [sys.executable, "-c", "import torch, spacy"],
                            "cli_5_lines": [*cli, str(five)]}, repeats, workdir, 0)
        reviews = workdir / "reviews.txt"  # one review per line: IMDb uses <br />, but a stray newline would split one
        reviews.write_text("".join(" ".join(text.splitlines()) + "\n" for text in test_texts), encoding="utf-8")
        fitted = workdir / "tfidf.pkl"
        with open(fitted, "wb") as file:
            pickle.dump(baseline, file)
        batch = median_runs({"cli": [*cli, str(reviews)],
                             "tfidf": [sys.executable, str(common.REPO_ROOT / "benchmarks" / "tfidf_predict.py"),
                                       str(fitted), str(reviews)]}, repeats, workdir, len(test_texts))
    for r in batch.values():
        r["reviews_per_second"] = round(len(test_texts) / r["seconds"], 1)
    return {"cold_start": cold, "batch": {"reviews": len(test_texts), **batch,
                                          "cli_speed_vs_tfidf": round(batch["tfidf"]["seconds"] / batch["cli"]["seconds"], 3)}}


def print_processes(processes: dict, repeats: int) -> None:
    cold, batch = processes["cold_start"], processes["batch"]
    n = batch["reviews"]
    print(f"\nProcesses, start to exit (median of {repeats} run(s); peak RSS of the largest process):\n")
    rows = [['python -c "import torch, spacy"', cold["import_torch_spacy"]["seconds"], cold["import_torch_spacy"]["peak_rss_mb"], "—"],
            ["python -m textcnn predict, 5 lines", cold["cli_5_lines"]["seconds"], cold["cli_5_lines"]["peak_rss_mb"], "—"],
            [f"python -m textcnn predict, {n:,} reviews", batch["cli"]["seconds"], batch["cli"]["peak_rss_mb"],
             f"{batch['cli']['reviews_per_second']:,.0f}"],
            [f"TF-IDF 1-2 grams + logistic regression process, {n:,} reviews", batch["tfidf"]["seconds"],
             batch["tfidf"]["peak_rss_mb"], f"{batch['tfidf']['reviews_per_second']:,.0f}"]]
    print(common.markdown_table(["process", "seconds", "peak RSS MB", "reviews/s"], rows))
    ratio = batch["cli_speed_vs_tfidf"]
    print(f"\nThe CLI runs the batch at {ratio:.2f}x the TF-IDF process's speed (goal: at least 1): "
          f"{'met' if ratio >= 1 else 'NOT met'}.")


def processes_only(args, argv, info: dict, source: str, train_texts: list[str], train_labels: list[int],
                   test_texts: list[str]) -> dict:
    with common.Stopwatch() as fitting:
        baseline = common.TfidfBaseline(args.baseline_c).fit(train_texts, train_labels)
    processes = bench_processes(args.model, baseline, test_texts, args.process_repeats)
    print(f"## Inference processes, end to end{' (QUICK: a small slice, not a measurement)' if args.quick else ''}\n")
    print(f"{len(test_texts):,} test reviews; {common.describe_machine(info)}")
    print_processes(processes, args.process_repeats)
    results = {
        "config": {"model": args.model, "dataset": source, "test_reviews": len(test_texts),
                   "process_repeats": args.process_repeats, "tfidf_fit_seconds": round(fitting.seconds, 2)},
        "results": {},
        "processes": processes,
        "target_met": {},
    }
    if args.output is None:
        args.output = (common.QUICK_RESULTS_DIR if args.quick else common.RESULTS_DIR) / "inference-processes.json"
    common.write_results("inference", args, argv, results, info)
    return results


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    common.set_threads(args.threads)
    info = common.machine()
    with common.dataset_source(args.dataset, args.quick) as source:
        data = common.load_texts(source, ("train", "test"), common.QUICK_SIZES if args.quick else None, args.seed)
    (train_texts, train_labels), (test_texts, _) = data["train"], data["test"]
    if args.processes_only:
        return processes_only(args, argv, info, source, train_texts, train_labels, test_texts)
    pipeline, load_seconds = common.load_pipeline(args.model, method=args.method)
    if args.batch_size:
        pipeline.batch_size = args.batch_size
    pipeline.workers = args.workers
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
    del pipeline  # its lookup table would otherwise sit in memory while the processes below are timed
    with common.Stopwatch() as fitting:
        baseline = common.TfidfBaseline(args.baseline_c).fit(train_texts, train_labels)
    tfidf = {"C": args.baseline_c, "fit_seconds": round(fitting.seconds, 2), "features": baseline.features,
             **bench_baseline(baseline, test_texts, warmup, sample, args.repeats)}
    processes = bench_processes(args.model, baseline, test_texts, args.process_repeats)

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
    print(f"\nTextCNN batch ({args.method}): tokenising alone (one process, a fresh cache) takes {b['tokenize_seconds']:.2f} s "
          f"({b['tokens_per_second']:,} tokens/s); the batch took "
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
    print_processes(processes, args.process_repeats)
    results = {
        "config": {"model": args.model, "dataset": source, "test_reviews": len(test_texts),
                   "latency_reviews": len(sample), "warmup": len(warmup), "repeats": args.repeats,
                   "process_repeats": args.process_repeats},
        "results": {"textcnn": model, "tfidf_logreg": tfidf},
        "processes": processes,
        "target_met": met,
    }
    common.write_results("inference", args, argv, results, info)
    return results


if __name__ == "__main__":
    main()
