"""How vocabulary expansion (``textcnn/expansion.py``) changes a model trained without it.

    python benchmarks/expansion.py --model DIR                     # GloVe's first 50,000 and 100,000 words, 5 and 20 neighbours
    python benchmarks/expansion.py --model DIR --words 50000 --neighbours 20
    python benchmarks/expansion.py --model DIR --quick             # a slice, with random stand-in vectors: seconds (CI)

For the model as it is and for each expansion of it (the words among GloVe's first N that its
vocabulary lacks, placed as their k nearest trained words moved): accuracy on the IMDb validation
split that train.py carved from train (same fraction and seed, from the model's metrics.json), the
held-out behavioural suite's pass rates and accuracy on the short sentences per source, as
``benchmarks/behavior.py`` measures them. That is what choosing N and k may look at; the test split
is not read. ``train.py --expand-vocab N`` does the same expansion at the end of a run.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from benchmarks.behavior import load_sentences, pass_rates, source_accuracy  # noqa: E402
from benchmarks.behavior_suite import build_suite  # noqa: E402

SHOWN = ("negation: positive adjectives", "negation: negative adjectives", "negation: positive verbs",
         "negation: negative verbs", "contrast", "vocabulary: verbs")
QUICK_GLOVE_EXTRA = 50  # random words beyond the model's vocabulary in the quick stand-in


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__)
    p.add_argument("--words", type=int, nargs="+", default=[50_000, 100_000],
                   help="N: the expansion takes the words among GloVe's first N that the vocabulary lacks")
    p.add_argument("--neighbours", type=int, nargs="+", default=[5, 20],
                   help="k: trained words whose mean movement each new word follows")
    add_glove_argument(p)
    p.add_argument("--sentences", type=Path, default=None, help="parquet of short labelled sentences (as behavior.py)")
    return p.parse_args(argv)


def add_glove_argument(p) -> None:
    p.add_argument("--glove", default=None,
                   help="6B.50d, 6B.100d or a GloVe text file (default: the model's own, from its metrics.json; "
                        "with --quick, random vectors of the model's size)")


def glove_source(args, metrics: dict) -> str:
    """The GloVe vectors ``--glove`` names, else those the model started from (its metrics.json)."""
    return args.glove or metrics.get("args", {}).get("glove", "6B.50d")


def model_glove(args, metrics: dict, vocab, dim: int):
    """The vectors of :func:`glove_source`; with --quick and no --glove, :func:`quick_glove`'s stand-in."""
    from textcnn.glove import load_glove

    if args.quick and not args.glove:
        return quick_glove(vocab, dim, args.seed)
    return load_glove(glove_source(args, metrics))


def quick_glove(vocab, dim: int, seed: int):
    """A stand-in GloVe: random vectors for the vocabulary's words and a few more."""
    import numpy as np

    from textcnn.glove import GloVe

    words = [*vocab.itos[2:], *(f"extra{i}" for i in range(QUICK_GLOVE_EXTRA))]
    return GloVe(words, np.random.default_rng(seed).standard_normal((len(words), dim)).astype(np.float32))


def main(argv: list[str] | None = None) -> dict:
    import numpy as np

    from benchmarks.accuracy import training_metrics, validation_split
    from textcnn.data import stratified_split
    from textcnn.expansion import expanded_rows, new_words, with_rows
    from textcnn.pipeline import SentimentPipeline
    from textcnn.vocab import Vocab

    args = parse_args(argv)
    common.set_threads(args.threads)
    info = common.machine()
    pipeline, _ = common.load_pipeline(args.model)
    metrics = training_metrics(pipeline)
    if metrics.get("vocab_expansion"):
        sys.exit("error: this model's vocabulary was expanded already: pass one trained without --expand-vocab")
    with common.dataset_source(args.dataset, args.quick) as source:
        data = common.load_texts(source, ("train",), common.QUICK_SIZES if args.quick else None, args.seed)
    texts, labels = data["train"]
    _, val_idx = stratified_split(labels, *validation_split(metrics))
    val_texts, val_labels = [texts[i] for i in val_idx], np.asarray([labels[i] for i in val_idx])
    source_of_vectors = glove_source(args, metrics)
    glove = model_glove(args, metrics, pipeline.vocab, pipeline.model.config.embedding_dim)
    cases = build_suite()
    sentences, sentence_labels, sources, sentences_from = load_sentences(args.sentences, args.quick, args.seed)
    trained = pipeline.model.embedding.weight.detach().numpy()

    def measure(candidate: SentimentPipeline) -> dict:
        def predict(batch: list[str]) -> list[int]:
            return [candidate.labels.index(p.label) for p in candidate.predict(batch)]
        return {"val_accuracy": float(np.mean(np.asarray(predict(val_texts)) == val_labels)),
                "capabilities": pass_rates(cases, predict),
                "short_sentences": source_accuracy(sentences, sentence_labels, sources, predict)}

    results = {"as trained": {"added": 0, **measure(pipeline)}}
    for count in args.words:
        words = new_words(pipeline.vocab, glove, count)
        for k in args.neighbours:
            rows = expanded_rows(trained, pipeline.vocab.itos, glove, words, neighbours=k)
            expanded = SentimentPipeline(with_rows(pipeline.model, rows), Vocab([*pipeline.vocab.itos, *words]))
            results[f"N={count} k={k}"] = {"glove_words": count, "neighbours": k, "added": len(words), **measure(expanded)}

    quick = " (QUICK: a small slice, not a measurement)" if args.quick else ""
    print(f"## Vocabulary expansion of {args.model}{quick}\n")
    print(f"GloVe {source_of_vectors if not (args.quick and not args.glove) else 'stand-in'}; {len(val_texts):,} "
          f"validation reviews; {len(cases)} suite cases; sentences from {sentences_from}; "
          f"{common.describe_machine(info)}\n")
    first = next(iter(results.values()))
    print(common.markdown_table(
        ["expansion", "words added", "validation", *SHOWN, *(f"short: {s}" for s in first["short_sentences"])],
        [[name, f"{r['added']:,}", f"{r['val_accuracy']:.2%}",
          *(f"{r['capabilities'][c]['rate']:.1%}" for c in SHOWN),
          *(f"{s['accuracy']:.1%}" for s in r["short_sentences"].values())]
         for name, r in results.items()]))
    record = {"config": {"model": args.model, "dataset": source, "glove": source_of_vectors, "sentences": sentences_from,
                         "validation_reviews": len(val_texts), "cases": len(cases)},
              "results": results, "target_met": {}}
    common.write_results("expansion", args, argv, record, info)
    return record


if __name__ == "__main__":
    main()
