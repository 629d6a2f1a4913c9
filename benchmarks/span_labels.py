"""Which way the labels of ``train.py --spans`` lean, and which way a model reads those sentences.

    python benchmarks/span_labels.py                          # 20,000 spans, VADER weight 2, the bundled model
    python benchmarks/span_labels.py --spans 60000 --vader-weight 4
    python benchmarks/span_labels.py --quick                  # synthetic reviews: seconds (CI)

The spans are cut as ``train.py`` cuts them, from the labelled reviews it trains on (train less its
validation split, by the same fraction and seed) and from the unlabelled ones, and labelled by the
same n-gram teacher (negation and contrast scope, no intercept). For each labelling (the teacher
alone, plus W x VADER, plus W x VADER centred on the spans as ``--vader-centre`` does) it prints the
share of spans labelled positive and the mean log-odds. Review sentences have no known balance, but
the sentences a visitor types are as often negative as positive, and a lean in the labels becomes a
lean of the model on short texts. It also prints how closely the model follows the centred labels
(the bundled command's): the share of spans it reads on the same side, and the correlation of its
log-odds with theirs; a model trained towards such labels that follows them loosely reads short
texts less well than they do. Needs the vaderSentiment package (requirements-train.txt).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None):
    from textcnn.settings import RunSettings

    p = common.base_parser(__doc__)
    p.add_argument("--spans", type=int, default=20_000, help="spans to cut and label")
    p.add_argument("--unlabelled", type=int, default=10_000, help="unlabelled reviews the spans are also cut from")
    p.add_argument("--vader-weight", type=float, default=2.0, help="W: VADER's weight in the labels, as in train.py")
    p.add_argument("--val-fraction", type=float, default=RunSettings().val_fraction,
                   help="train.py's validation share (left out)")
    return p.parse_args(argv)


def lean(probabilities) -> dict:
    """Share labelled positive, mean P(positive) and mean log-odds of (n, 2) class probabilities."""
    import numpy as np

    p = np.clip(probabilities[:, 1].astype(np.float64), 1e-7, 1 - 1e-7)
    return {"positive_share": round(float((p > 0.5).mean()), 4), "mean_positive": round(float(p.mean()), 4),
            "mean_log_odds": round(float(np.mean(np.log(p) - np.log1p(-p))), 4)}


def agreement(labels, read) -> dict:
    """How closely (n, 2) class probabilities ``read`` follow ``labels``: the share on the same side of
    0.5, and the correlation of their log-odds."""
    import numpy as np

    from textcnn.augment import log_odds

    want, got = log_odds(labels), log_odds(read)
    return {"same_side": round(float(((want > 0) == (got > 0)).mean()), 4),
            "log_odds_correlation": round(float(np.corrcoef(want, got)[0, 1]), 4)}


def main(argv: list[str] | None = None) -> dict:
    import numpy as np

    from textcnn.augment import sample_spans, teacher_view, vader_compound, with_vader
    from textcnn.data import stratified_split
    from textcnn.settings import RunSettings
    from textcnn.teacher import NgramTeacher
    from textcnn.tokenizer import Tokenizer

    args = parse_args(argv)
    common.set_threads(args.threads)
    info = common.machine()
    with common.dataset_source(args.dataset, args.quick) as source:
        data = common.load_texts(source, ("train", "unsupervised"), {"unsupervised": args.unlabelled}, args.seed)
    (texts, labels), (unlabelled_texts, _) = data["train"], data["unsupervised"]
    train_idx, _ = stratified_split(labels, args.val_fraction, args.seed)
    tokenizer = Tokenizer()
    labelled = tokenizer.batch([texts[i] for i in train_idx])
    view = teacher_view(True, True)
    teacher = NgramTeacher(c=RunSettings().teacher_c)  # train.py's teacher, with train.py's default C
    teacher.fit([view(t) for t in labelled], np.asarray([labels[i] for i in train_idx]))
    spans = sample_spans(labelled + tokenizer.batch(unlabelled_texts), args.spans, seed=args.seed)
    joined = [" ".join(s) for s in spans]
    teacher_labels = teacher.predict_proba([view(s) for s in spans], prior=False)
    compound = vader_compound(joined)
    w = args.vader_weight
    centred = with_vader(teacher_labels, compound, w, centre=1.0)
    labellings = {"teacher": lean(teacher_labels),
                  f"teacher + {w:g} x VADER": lean(with_vader(teacher_labels, compound, w)),
                  f"teacher + {w:g} x VADER, centred": lean(centred)}
    pipeline, _ = common.load_pipeline(args.model)
    read = np.asarray([[p.probabilities[label] for label in pipeline.labels] for p in pipeline.predict(joined)])
    model = lean(read) | agreement(centred, read)

    quick = " (QUICK: a small slice, not a measurement)" if args.quick else ""
    print(f"## The spans' labels{quick}\n")
    print(f"{len(spans):,} spans from {len(labelled):,} labelled and {len(unlabelled_texts):,} unlabelled reviews; "
          f"{common.describe_machine(info)}\n")
    print(f"VADER: {np.mean(compound > 0):.1%} of spans score above 0, {np.mean(compound < 0):.1%} below, "
          f"mean {compound.mean():+.3f}\n")
    print(common.markdown_table(
        ["labels", "labelled positive", "mean P(positive)", "mean log-odds"],
        [[name, f"{r['positive_share']:.1%}", f"{r['mean_positive']:.3f}", f"{r['mean_log_odds']:+.3f}"]
         for name, r in [*labellings.items(), (f"read by {args.model}", model)]]))
    print(f"\nThe model reads {model['same_side']:.1%} of the spans on the side of the centred labels; "
          f"its log-odds correlate with theirs at {model['log_odds_correlation']:.3f}.")
    record = {"config": {"model": args.model, "dataset": source, "spans": len(spans), "vader_weight": w,
                         "labelled_reviews": len(labelled), "unlabelled_reviews": len(unlabelled_texts)},
              "results": {"vader": {"above_zero": round(float(np.mean(compound > 0)), 4),
                                    "below_zero": round(float(np.mean(compound < 0)), 4),
                                    "mean": round(float(compound.mean()), 4)},
                          "labels": labellings, "model": model},
              "target_met": {}}
    common.write_results("span_labels", args, argv, record, info)
    return record


if __name__ == "__main__":
    main()
