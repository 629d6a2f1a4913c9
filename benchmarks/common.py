"""What the benchmarks share: arguments, data, the TF-IDF baseline, the machine, timing, tables, JSON.

Nothing heavy is imported at module level: memory.py measures fresh processes that import this.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_IMDB = REPO_ROOT.parent / "shared" / "data" / "imdb"  # a local copy beside the checkout, used when present
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
QUICK_RESULTS_DIR = RESULTS_DIR / "quick"  # git-ignored: quick runs only check that nothing rotted

# The project's targets, so that every table can say whether they are met.
TARGETS = {
    "test_accuracy": 0.915,  # IMDb test, model chosen on validation only
    "train_minutes": 15.0,  # train.py defaults, from scratch, tokenising included, 2-core CPU
    "batch_reviews_per_second": 2000.0,  # end to end (raw text in, predictions out), 2-core CPU
    "explain_median_ms": 15.0,  # one review, prediction and explanation
    "app_rss_mb": 600.0,  # the app's resident memory with the model loaded
}

# TF-IDF baseline: word 1-2 grams, sublinear tf, liblinear logistic regression. Fixed here so that
# the accuracy and inference benchmarks measure the same thing; C is picked on validation.
BASELINE_C_GRID = (1.0, 4.0, 16.0)
BASELINE_C = 4.0  # what the inference benchmark uses (speed does not depend on C)
QUICK_SIZES = {"train": 400, "test": 200}


# --- arguments and data ------------------------------------------------------------------------

def base_parser(description: str, model: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if model:
        p.add_argument("--model", default=str(REPO_ROOT / "models" / "textcnn-imdb"),
                       help="model folder or Hub repo id (default: the bundled model)")
    p.add_argument("--dataset", default=None,
                   help=f"IMDb: a local copy or a Hub id (default: {LOCAL_IMDB} if present, else stanfordnlp/imdb; "
                        "in --quick mode a tiny synthetic set)")
    p.add_argument("--quick", action="store_true",
                   help="a small slice, seconds not minutes: checks the benchmark works (CI), measures nothing")
    p.add_argument("--output", type=Path, default=None,
                   help="JSON results file (default: benchmarks/results/<name>.json, or results/quick/ with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling reviews")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return p


@contextlib.contextmanager
def dataset_source(requested: str | None, quick: bool) -> Iterator[str]:
    """The IMDb source to use: the one requested; else, in quick mode, a synthetic set in a temp folder
    (quick runs check that a benchmark works, so they run on the same data on every machine and
    need neither the network nor a local copy); else the local copy when there is one, else the Hub."""
    if requested:
        yield requested
    elif quick:
        with tempfile.TemporaryDirectory(prefix="imdb-synthetic-") as root:
            yield str(synthetic_imdb(Path(root)))
    elif LOCAL_IMDB.is_dir():
        yield str(LOCAL_IMDB)
    else:
        yield "stanfordnlp/imdb"


def load_texts(source: str, splits: Sequence[str], limits: dict[str, int] | None = None,
               seed: int = 0) -> dict[str, tuple[list[str], list[int]]]:
    """{split: (texts, labels)}, each split sampled down to ``limits[split]`` reviews when given."""
    from textcnn.data import load_imdb

    raw = load_imdb(source, splits=tuple(splits))
    out = {}
    for split in splits:
        ds = raw[split]
        if limits and split in limits and limits[split] < len(ds):
            ds = ds.shuffle(seed=seed).select(range(limits[split]))  # rows are sorted by label: sample
        out[split] = (list(ds["text"]), list(ds["label"]))
    return out


# Synthetic reviews whose cue words decide the label: the quick benchmarks and the tests train and
# predict on them, so that both run the same everywhere, without the network or a local IMDb copy.
POSITIVE = ["great", "wonderful", "brilliant", "moving", "superb", "loved", "masterpiece", "funny"]
NEGATIVE = ["awful", "boring", "terrible", "waste", "dull", "worst", "hated", "mess"]
FILLER = ["the", "film", "movie", "plot", "actors", "story", "was", "and", "a", "it", "this", "i"]


def make_reviews(n: int, seed: int) -> tuple[list[str], list[int]]:
    """(texts, labels): alternately negative and positive toy reviews with IMDb's <br /> breaks."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        cue = POSITIVE if label else NEGATIVE
        words = [rng.choice(FILLER) for _ in range(rng.randint(8, 40))]
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(cue))
        texts.append(" ".join(words[:5]) + ".<br /><br />" + " ".join(words[5:]) + "!")
        labels.append(label)
    return texts, labels


def synthetic_imdb(root: Path, n_train: int = QUICK_SIZES["train"], n_test: int = QUICK_SIZES["test"]) -> Path:
    """``root``, laid out like the Hub's stanfordnlp/imdb (plain_text/{split}-00000-of-00001.parquet),
    holding synthetic reviews; the unlabelled split (label -1) has as many as test."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "plain_text"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2), ("unsupervised", n_test, 3)):
        texts, labels = make_reviews(n, seed)
        if split == "unsupervised":
            labels = [-1] * n
        pq.write_table(pa.table({"text": texts, "label": labels}), folder / f"{split}-00000-of-00001.parquet")
    return root


def load_pipeline(model: str, method: str = "conv"):
    """(SentimentPipeline, seconds to load, lookup tables included); exits with the loader's one-line message if it fails."""
    from textcnn.hub import ModelLoadError
    from textcnn.pipeline import SentimentPipeline

    started = time.perf_counter()
    try:
        pipeline = SentimentPipeline.from_pretrained(model, method=method)
    except ModelLoadError as error:
        sys.exit(f"error: {error} (train one with train.py, or pass --model)")
    return pipeline, time.perf_counter() - started


def trained_vocab_size(pipeline) -> int:
    """How many of the model's vocabulary ids it trained on: all of them, less the words vocabulary
    expansion added after training (its metrics.json says how many)."""
    expansion = (pipeline.metrics or {}).get("vocab_expansion") or {}
    return len(pipeline.vocab) - expansion.get("added", 0)


def positive_log_odds(pipeline, texts: list[str]) -> list[float]:
    """log P(positive) - log P(negative) of each text, as ``pipeline`` predicts it (raw text in)."""
    import math

    negative, positive = pipeline.labels
    return [math.log(p.probabilities[positive]) - math.log(p.probabilities[negative]) for p in pipeline.predict(texts)]


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


# --- the TF-IDF bigram logistic regression baseline --------------------------------------------

class TfidfBaseline:
    """TF-IDF over word 1-2 grams, then logistic regression (scikit-learn), with a linear explanation."""

    def __init__(self, c: float) -> None:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        from textcnn.tokenizer import clean  # lowercase and drop <br />, as the model's tokenizer does

        self.c = c
        self.vectorizer = TfidfVectorizer(preprocessor=clean, ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                          dtype=np.float32)
        self.logreg = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
        self.names = None

    def fit(self, texts: Sequence[str], labels: Sequence[int]) -> TfidfBaseline:
        self.logreg.fit(self.vectorizer.fit_transform(texts), labels)
        self.names = self.vectorizer.get_feature_names_out()  # once: rebuilding it costs ~100 ms
        return self

    def predict_proba(self, texts: Sequence[str]):
        """(n, 2) class probabilities, raw text in."""
        return self.logreg.predict_proba(self.vectorizer.transform(texts))

    def explain(self, text: str) -> tuple[list[float], list[tuple[str, float]]]:
        """The counterpart of the model's explanation: probabilities, and each n-gram's term of the score."""
        import numpy as np

        x = self.vectorizer.transform([text])
        probabilities = self.logreg.predict_proba(x)[0].tolist()
        contributions = x.data * self.logreg.coef_[0, x.indices]
        order = np.argsort(-np.abs(contributions))
        return probabilities, [(str(self.names[x.indices[i]]), float(contributions[i])) for i in order]

    @property
    def features(self) -> int:
        return len(self.names) if self.names is not None else 0


# --- machine, timing, output -------------------------------------------------------------------

def machine() -> dict:
    """Enough about this machine to tell whether two result files are comparable."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_gb = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1e6, 1)
    info = {
        "cpu": cpu,
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": memory_gb,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "git_commit": git_commit(),
    }
    with contextlib.suppress(ImportError):
        import sklearn

        info["scikit_learn"] = sklearn.__version__
    return info


def describe_machine(info: dict) -> str:
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ""
    return (f"{info['cpu']}, {info['cpu_cores']} cores, {info['torch_threads']} torch threads{gpu}, "
            f"torch {info['torch']}, load average {info['load_average_1min']} at start")


def git_commit() -> str | None:
    """HEAD of the checkout, with ``-dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=REPO_ROOT, timeout=10).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


class Stopwatch:
    """``with Stopwatch() as t: ...`` then ``t.seconds`` (wall clock, perf_counter)."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started


def latency_summary(seconds: Sequence[float]) -> dict:
    """Median, 90th and 99th percentile, mean and max of per-call latencies, in milliseconds."""
    import numpy as np

    ms = np.asarray(seconds) * 1000
    return {
        "calls": int(ms.size),
        "median_ms": round(float(np.median(ms)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line(script: str, argv: Sequence[str] | None) -> str:
    return shlex.join(["python", f"benchmarks/{script}.py", *(sys.argv[1:] if argv is None else argv)])


def write_results(name: str, args: argparse.Namespace, argv: Sequence[str] | None, results: dict,
                  info: dict | None = None) -> Path:
    """Write ``{benchmark, command, machine, ..., results}`` atomically; returns the path."""
    from textcnn.atomic import atomic_write_text

    path = args.output or (QUICK_RESULTS_DIR if args.quick else RESULTS_DIR) / f"{name}.json"
    record = {
        "benchmark": name,
        "command": command_line(name, argv),
        "quick": args.quick,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": info or machine(),
        "targets": TARGETS,
        **results,
    }
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return Path(path)
