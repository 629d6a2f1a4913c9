"""Accuracy on the IMDb test split: a model folder beside a TF-IDF bigram logistic regression fitted in this run.

    python benchmarks/accuracy.py                     # the bundled model on all 25,000 test reviews
    python benchmarks/accuracy.py --model runs/other  # another model folder (or a Hub repo id)
    python benchmarks/accuracy.py --quick             # a small slice in seconds (what CI runs)

The model is scored end to end (raw text into SentimentPipeline.predict). The baseline's C is
picked on the validation split train.py holds out (same fraction and seed as the model's
metrics.json, else 10 % and seed 0), then it is refitted on all of train. Test is used only
for the figures reported here; nothing is chosen on it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__)
    p.add_argument("--baseline-c", type=float, nargs="+", default=list(common.BASELINE_C_GRID),
                   help="inverse regularisation strengths tried for the baseline; the best on validation is used")
    return p.parse_args(argv)


def training_metrics(pipeline) -> dict:
    """The model folder's metrics.json (what train.py measured), or {} when it has none."""
    return pipeline.metrics or {}


def validation_split(metrics: dict) -> tuple[float, int]:
    """(fraction, seed) of the validation split train.py carved for this model (its defaults when unrecorded)."""
    train_args = metrics.get("args", {})
    return train_args.get("val_fraction", 0.1), train_args.get("seed", 0)


def score(probabilities, labels: list[int]) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) from per-review class probabilities (label order)."""
    correct = sum(max(range(len(p)), key=p.__getitem__) == y for p, y in zip(probabilities, labels))
    loss = -sum(math.log(max(p[y], 1e-12)) for p, y in zip(probabilities, labels)) / len(labels)
    return correct / len(labels), loss


def evaluate_model(pipeline, texts: list[str], labels: list[int]) -> dict:
    with common.Stopwatch() as t:
        predictions = pipeline.predict(texts)
    probabilities = [[p.probabilities[label] for label in pipeline.labels] for p in predictions]
    accuracy, loss = score(probabilities, labels)
    return {"test_accuracy": round(accuracy, 5), "test_loss": round(loss, 5), "reviews": len(texts),
            "predict_seconds": round(t.seconds, 2)}


def fit_baseline(texts: list[str], labels: list[int], grid: list[float], val_fraction: float, seed: int):
    """Pick C on the held-out validation split, then refit on all of ``texts``; (baseline, report)."""
    from sklearn.base import clone

    from textcnn.data import stratified_split

    train_idx, val_idx = stratified_split(labels, val_fraction, seed)
    probe = common.TfidfBaseline(grid[0])
    with common.Stopwatch() as selecting:
        x_train = probe.vectorizer.fit_transform([texts[i] for i in train_idx])
        x_val = probe.vectorizer.transform([texts[i] for i in val_idx])
        y_train, y_val = [labels[i] for i in train_idx], [labels[i] for i in val_idx]
        val_accuracy = {}
        for c in grid:
            logreg = clone(probe.logreg).set_params(C=c).fit(x_train, y_train)
            val_accuracy[c] = float((logreg.predict(x_val) == y_val).mean())
    best_c = max(grid, key=lambda c: (val_accuracy[c], -c))  # ties: the stronger regularisation
    with common.Stopwatch() as fitting:
        baseline = common.TfidfBaseline(best_c).fit(texts, labels)
    report = {
        "C": best_c,
        "val_accuracy_by_C": {str(c): round(a, 5) for c, a in val_accuracy.items()},
        "val_accuracy": round(val_accuracy[best_c], 5),
        "select_seconds": round(selecting.seconds, 2),
        "fit_seconds": round(fitting.seconds, 2),
        "features": baseline.features,
    }
    return baseline, report


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    common.set_threads(args.threads)
    info = common.machine()
    pipeline, load_seconds = common.load_pipeline(args.model)
    trained = training_metrics(pipeline)
    val_fraction, split_seed = validation_split(trained)

    with common.dataset_source(args.dataset, args.quick) as source:
        data = common.load_texts(source, ("train", "test"), common.QUICK_SIZES if args.quick else None, args.seed)
    (train_texts, train_labels), (test_texts, test_labels) = data["train"], data["test"]

    model = evaluate_model(pipeline, test_texts, test_labels)
    model.update({
        "model": args.model,
        "load_seconds": round(load_seconds, 2),
        "parameters": pipeline.model.num_parameters(),
        # what train.py reported for this folder: the epoch was chosen on validation accuracy
        "trained": {k: trained.get(k) for k in ("val_accuracy", "best_epoch", "test_accuracy", "command")},
    })

    baseline, fitted = fit_baseline(train_texts, train_labels, args.baseline_c, val_fraction, split_seed)
    with common.Stopwatch() as t:
        probabilities = baseline.predict_proba(test_texts).tolist()
    accuracy, loss = score(probabilities, test_labels)
    tfidf = {"test_accuracy": round(accuracy, 5), "test_loss": round(loss, 5), "reviews": len(test_texts),
             "predict_seconds": round(t.seconds, 2), **fitted}

    target = common.TARGETS["test_accuracy"]
    met = model["test_accuracy"] >= target
    print(f"## Accuracy on IMDb test{' (QUICK: a small slice, not a measurement)' if args.quick else ''}\n")
    print(f"{len(test_texts):,} test reviews, {len(train_texts):,} train reviews; {common.describe_machine(info)}\n")
    print(common.markdown_table(
        ["model", "test accuracy", "test loss", "chosen on validation", "fit s", "predict s"],
        [
            [f"TextCNN ({args.model})", f"{model['test_accuracy']:.2%}", f"{model['test_loss']:.4f}",
             f"epoch {trained['best_epoch']}, val {trained['val_accuracy']:.2%}" if "val_accuracy" in trained
             else "unknown (no metrics.json)",
             (trained.get("seconds") or {}).get("total"), model["predict_seconds"]],
            [f"TF-IDF 1-2 grams + logistic regression ({tfidf['features']:,} features)",
             f"{tfidf['test_accuracy']:.2%}", f"{tfidf['test_loss']:.4f}", f"C={tfidf['C']:g}, val {tfidf['val_accuracy']:.2%}",
             tfidf["fit_seconds"], tfidf["predict_seconds"]],
        ],
    ))
    print(f"\nTarget: TextCNN test accuracy >= {target:.1%}: {'met' if met else 'NOT met'}. "
          "TextCNN fit s is train.py's total from the model's metrics.json.")
    results = {
        "config": {"model": args.model, "dataset": source, "val_fraction": val_fraction, "split_seed": split_seed,
                   "test_reviews": len(test_texts), "train_reviews": len(train_texts)},
        "results": {"textcnn": model, "tfidf_logreg": tfidf},
        "target_met": {"test_accuracy": met},
    }
    common.write_results("accuracy", args, argv, results, info)
    return results


if __name__ == "__main__":
    main()
