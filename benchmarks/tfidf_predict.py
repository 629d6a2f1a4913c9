"""The TF-IDF baseline as a command, the counterpart of ``python -m textcnn predict`` in the inference benchmark.

    python benchmarks/tfidf_predict.py FITTED.pkl REVIEWS.txt > predictions.jsonl

Loads a fitted :class:`benchmarks.common.TfidfBaseline` (pickled by the benchmark itself, from a
temporary file it wrote: never unpickle a file you did not write), reads one review per line and
writes one JSON object per line, as the CLI does, so both are timed from process start to last line.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    fitted, reviews = (argv if argv is not None else sys.argv[1:])[:2]
    with open(fitted, "rb") as file:
        baseline = pickle.load(file)  # the benchmark's own file, written a moment ago
    with open(reviews, encoding="utf-8", errors="replace", newline="\n") as file:
        texts = [line.rstrip("\r\n") for line in file]
    labels = ("neg", "pos")
    out = sys.stdout
    for probabilities in baseline.predict_proba(texts).tolist():
        out.write(json.dumps({"label": labels[probabilities[1] > probabilities[0]],
                              "probabilities": dict(zip(labels, probabilities))}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
