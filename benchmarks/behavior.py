"""Behaviour beyond IMDb accuracy: the held-out capability suite and short out-of-domain sentences.

    python benchmarks/behavior.py                     # the bundled model beside a TF-IDF baseline fitted here
    python benchmarks/behavior.py --model runs/other  # another model folder (or a Hub repo id)
    python benchmarks/behavior.py --record            # also store the model's figures in its folder's metrics.json (the demo shows them)
    python benchmarks/behavior.py --quick             # a small slice in seconds (what CI runs)
    python benchmarks/behavior.py --teachers          # also the labellers a distilled model could learn from
    python benchmarks/behavior.py --model runs/s --snippets downloads/vaderSentiment-3.3.2.tar.gz  # a model trained on them

These measurements, each for the model and for the TF-IDF 1-2 gram logistic regression of
benchmarks/accuracy.py (C picked on train.py's validation split, refitted on all of IMDb train):

- the pass rate per capability of ``benchmarks/behavior_suite.py`` (CheckList-style vocabulary,
  negation, contrast, intensifier, diminisher and invariance cases, with templates and sentiment
  words held out from anything training may use);
- accuracy per source on short labelled Yelp and Amazon sentences
  (``../shared/data/sentences/yelp_amazon.parquet``; with --quick and no such file, a synthetic
  stand-in), also on the negative and the positive ones apart, and on those that hold a negator
  ("not", "n't", "never", "no", ...: the ``textcnn.augment.NEGATORS`` of the teacher's negation
  scope) apart from the rest, and on all of them again without their closing punctuation, as
  people often type a sentence into a box; with ``--snippets``, also on those that are not among
  the people-rated texts a model trained on (``train.py --snippets``);
- the suite's negation cases that hold "n't", typed with a typographic apostrophe ("n’t", as phones
  write it) and with none ("nt").

Models are scored end to end (raw text into SentimentPipeline.predict). Nothing is chosen here on
IMDb test.

``--teachers`` also scores what could label short texts for a student to learn from, on the same
cases and sentences: train.py's n-gram teacher (fitted here on IMDb train, without its intercept,
as ``--spans`` uses it), the same with ``--negation-scope``, and, when the package
``vaderSentiment`` is installed, the rule-based VADER (Hutto & Gilbert 2014) alone and added to the
model's log-odds, and the labels of the bundled command as train.py makes them (the teacher with both
scopes plus twice VADER less its mean over review sentences), also with ``--negation-flip``. A
student distilled from a labeller rarely beats it, so these bound what distillation on short texts
can give.
"""

from __future__ import annotations

import dataclasses
import json
import random
import string
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from benchmarks.behavior_suite import Case, build_suite, capabilities  # noqa: E402

SENTENCES = common.REPO_ROOT.parent / "shared" / "data" / "sentences" / "yelp_amazon.parquet"
# what the model should reach on the held-out suite and the short sentences
TARGETS = {"negation": 0.90, "contrast": 0.85, "short_sentences": 0.88}
QUICK_SENTENCES_PER_SOURCE = 100


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__)
    p.add_argument("--sentences", type=Path, default=None,
                   help=f"parquet of short labelled sentences (text, label, source) (default: {SENTENCES})")
    p.add_argument("--baseline-c", type=float, nargs="+", default=list(common.BASELINE_C_GRID),
                   help="inverse regularisation strengths tried for the baseline; the best on validation is used")
    p.add_argument("--record", action="store_true",
                   help='write the model\'s figures into its folder\'s metrics.json, where the demo reads them: '
                        '"short_sentences" {"yelp", "amazon", "examples"} and "behavior" {"cases", "pass_rates": '
                        "{capability: rate}} (a local folder only; not with --quick)")
    p.add_argument("--snippets", type=Path, default=None,
                   help="the people-rated texts the model trained on (train.py --snippets): also score the short "
                        "sentences that are not among them (compared lowercased, letters and digits only)")
    p.add_argument("--teachers", action="store_true",
                   help="also score the n-gram teacher (with and without negation scope) and, if installed, VADER")
    return p.parse_args(argv)


# --- scoring (pure) --------------------------------------------------------------------------------

def pass_rates(cases: list[Case], predict) -> dict[str, dict]:
    """Per capability: cases, passed, rate, and every failure. ``predict(texts) -> labels``.

    An expectation case passes when the predicted label is the expected one; an invariance case
    when the sentence and its perturbation get the same label."""
    texts = [c.text for c in cases] + [c.pair for c in cases if c.pair is not None]
    labels = dict(zip(texts, predict(texts)))
    out: dict[str, dict] = {}
    for capability in capabilities(cases):
        members = [c for c in cases if c.capability == capability]
        failed = [c for c in members
                  if (labels[c.text] != c.label if c.pair is None else labels[c.text] != labels[c.pair])]
        out[capability] = {"cases": len(members), "passed": len(members) - len(failed),
                           "rate": round(1 - len(failed) / len(members), 4),
                           "failures": [c.text if c.pair is None else f"{c.text} -> {c.pair}" for c in failed]}
    return out


CONTRACTION_SPELLINGS = ("n't", "n\u2019t", "nt")  # as reviews spell it, as phones type it, as hasty typists do


def typed_negations(cases: list[Case], predict) -> dict:
    """The negation cases that hold "n't" ("I didn't enjoy this movie."), each typed in each of
    :data:`CONTRACTION_SPELLINGS`: {"cases", "pass_rates": {spelling: rate}}."""
    negations = [c for c in cases if c.capability.startswith("negation") and "n't" in c.text]
    rates = {}
    for spelling in CONTRACTION_SPELLINGS:
        typed = [dataclasses.replace(c, capability=spelling, text=c.text.replace("n't", spelling)) for c in negations]
        rates[spelling] = pass_rates(typed, predict)[spelling]["rate"] if typed else None
    return {"cases": len(negations), "pass_rates": rates}


def without_end_punctuation(text: str) -> str:
    """``text`` without its closing punctuation and spaces, as many people type a sentence ("Great phone")."""
    return text.rstrip(string.punctuation + string.whitespace) or text


def source_accuracy(texts: list[str], labels: list[int], sources: list[str], predict,
                    negated: list[bool] | None = None, unpunctuated: bool = False,
                    unseen: list[bool] | None = None) -> dict[str, dict]:
    """Accuracy per source: {source: {"accuracy", "examples", "by_label"}}, ``by_label`` the accuracy on
    the negative (label 0) and the positive (label 1) sentences, which shows a lean to one side. With
    ``negated`` (whether each sentence holds a negator), also ``by_negator``: the accuracy on the
    sentences with one and on those without, and how many have one. With ``unpunctuated``, also
    ``unpunctuated``: the accuracy on the same sentences with their closing punctuation taken off. With
    ``unseen`` (whether each sentence is absent from what the model trained on), also ``unseen``: the
    accuracy on those and how many there are."""
    predicted = predict(texts)
    bare = predict([without_end_punctuation(t) for t in texts]) if unpunctuated else None
    out = {}

    def accuracy(rows: list[int], predicted: list[int] = predicted) -> float | None:
        return round(sum(predicted[i] == labels[i] for i in rows) / len(rows), 4) if rows else None

    for source in sorted(set(sources)):
        rows = [i for i, s in enumerate(sources) if s == source]
        out[source] = {"accuracy": accuracy(rows), "examples": len(rows),
                       "by_label": {name: accuracy([i for i in rows if labels[i] == label])
                                    for label, name in enumerate(("negative", "positive"))}}
        if negated is not None:
            with_negator = [i for i in rows if negated[i]]
            out[source]["by_negator"] = {"with": accuracy(with_negator),
                                         "without": accuracy([i for i in rows if not negated[i]]),
                                         "examples_with": len(with_negator)}
        if bare is not None:
            out[source]["unpunctuated"] = accuracy(rows, bare)
        if unseen is not None:
            new = [i for i in rows if unseen[i]]
            out[source]["unseen"] = {"accuracy": accuracy(new), "examples": len(new)}
    return out


def targets_met(rates: dict[str, dict], sentences: dict[str, dict]) -> dict[str, bool]:
    met = {}
    for capability, r in rates.items():
        if capability.startswith("negation"):
            met[capability] = r["rate"] >= TARGETS["negation"]
        elif capability == "contrast":
            met[capability] = r["rate"] >= TARGETS["contrast"]
    for source, r in sentences.items():
        met[f"short sentences: {source}"] = r["accuracy"] >= TARGETS["short_sentences"]
    return met


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


# --- data ----------------------------------------------------------------------------------------

def synthetic_sentences(per_source: int, seed: int = 0) -> tuple[list[str], list[int], list[str]]:
    """A stand-in for the short-sentence file when it is absent (CI): cue words decide the label."""
    rng = random.Random(seed)
    words = {1: ["great", "loved", "excellent", "perfect"], 0: ["awful", "broken", "terrible", "worst"]}
    texts, labels, sources = [], [], []
    for source, thing in (("yelp", "the food"), ("amazon", "this phone")):
        for i in range(per_source):
            label = i % 2
            texts.append(f"{thing.capitalize()} was {rng.choice(words[label])}.")
            labels.append(label)
            sources.append(source)
    return texts, labels, sources


# weights of VADER's compound score (-1..1) added to the model's log-odds
VADER_WEIGHTS = (2, 4, 8)
SELF_DISTILL_WEIGHTS = (0.5, 1)  # the model's log-odds added to the labels of the bundled command
CENTRE_SPANS = 20_000  # review sentences whose mean VADER score the centred labels take off
NEGATION_FLIP_WEIGHTS = (0.5, 1)  # train.py --negation-flip G with the centred labels


def memoised(score):
    """``score`` computed once per list of texts: every labeller below is asked about the same two lists
    (the suite's sentences, the short sentences), and the combined ones reuse their parts' scores."""
    results: dict[tuple[str, ...], list[float]] = {}

    def cached(texts: list[str]) -> list[float]:
        key = tuple(texts)
        if key not in results:
            results[key] = list(score(texts))
        return results[key]
    return cached


def teacher_scorers(train_texts: list[str], train_labels: list[int], model_log_odds) -> dict:
    """{name: texts -> positive-minus-negative scores} of the labellers ``--teachers`` compares."""
    import importlib.util

    import numpy as np

    from textcnn.augment import log_odds, negated_log_odds, sample_spans, teacher_view, vader_compound
    from textcnn.settings import RunSettings
    from textcnn.teacher import NgramTeacher
    from textcnn.tokenizer import Tokenizer

    tokenizer = Tokenizer()
    documents = tokenizer.batch(train_texts)
    scorers = {}
    views = (("ngram_teacher", teacher_view(False, False)), ("ngram_teacher_negation_scope", teacher_view(True, False)),
             ("ngram_teacher_negation_contrast_scope", teacher_view(True, True)))
    teachers = {}
    for name, view in views:
        teacher = teachers[name] = NgramTeacher(c=RunSettings().teacher_c).fit([view(d) for d in documents], train_labels)

        def score(texts, teacher=teacher, view=view):
            return log_odds(teacher.predict_proba([view(tokenizer(t)) for t in texts], prior=False)).tolist()
        scorers[name] = memoised(score)
    if importlib.util.find_spec("vaderSentiment") is None:
        print("VADER left out: pip install vaderSentiment to include it", file=sys.stderr)
        return scorers
    vader = scorers["vader"] = memoised(vader_compound)
    model_log_odds = memoised(model_log_odds)
    for weight in VADER_WEIGHTS:
        scorers[f"textcnn_plus_{weight}_vader"] = lambda texts, w=weight: [
            m + w * v for m, v in zip(model_log_odds(texts), vader(texts))]
    # the labels of train.py --spans --negation-scope [--contrast-scope] --vader-weight W
    for teacher in ("ngram_teacher_negation_scope", "ngram_teacher_negation_contrast_scope"):
        for weight in VADER_WEIGHTS:
            scorers[f"{teacher}_plus_{weight}_vader"] = lambda texts, w=weight, t=teacher: [
                s + w * v for s, v in zip(scorers[t](texts), vader(texts))]
    # the bundled command's labels as train.py makes them: VADER less its mean over review sentences
    # (--vader-centre), here sentences cut from the training reviews as train.py cuts its spans
    spans = sample_spans(documents, CENTRE_SPANS, seed=0)
    centre = float(np.mean(vader_compound([" ".join(s) for s in spans]))) if spans else 0.0
    centred = scorers["ngram_teacher_negation_contrast_scope_plus_2_vader_centred"] = lambda texts: [
        s + 2 * (v - centre) for s, v in zip(scorers["ngram_teacher_negation_contrast_scope"](texts), vader(texts))]
    # ... with train.py --negation-flip G: less G times the teacher's reading of the negated words as plain ones
    both_scopes, view = teachers["ngram_teacher_negation_contrast_scope"], teacher_view(True, True)
    negated = memoised(lambda texts: negated_log_odds(both_scopes, [view(tokenizer(t)) for t in texts]))
    for weight in NEGATION_FLIP_WEIGHTS:
        scorers[f"ngram_teacher_negation_contrast_scope_plus_2_vader_centred_flip_{weight}"] = lambda texts, w=weight: [
            s - w * n for s, n in zip(centred(texts), negated(texts))]
    # the bundled command's labels (flip 1) plus the model's own log-odds: what train.py --self-distill B
    # trains the spans towards after each epoch
    labeller = scorers["ngram_teacher_negation_contrast_scope_plus_2_vader_centred_flip_1"]
    for weight in SELF_DISTILL_WEIGHTS:
        scorers[f"ngram_teacher_negation_contrast_scope_plus_2_vader_centred_flip_1_plus_{weight}_textcnn"] = \
            lambda texts, w=weight: [s + w * m for s, m in zip(labeller(texts), model_log_odds(texts))]
    return scorers


def load_sentences(path: Path | None, quick: bool, seed: int) -> tuple[list[str], list[int], list[str], str]:
    """(texts, labels, sources, where from); a per-source slice with --quick."""
    path = path or SENTENCES
    if not path.is_file():
        if not quick:
            sys.exit(f"error: {path} not found (pass --sentences)")
        return (*synthetic_sentences(QUICK_SENTENCES_PER_SOURCE // 2, seed), "synthetic")
    import pandas as pd

    frame = pd.read_parquet(path)
    if quick:
        frame = pd.concat([group.sample(min(len(group), QUICK_SENTENCES_PER_SOURCE), random_state=seed)
                           for _, group in frame.groupby("source", sort=False)])
    return list(frame["text"]), [int(x) for x in frame["label"]], list(frame["source"]), str(path)


def record_measurements(folder: Path, sentences: dict[str, dict], rates: dict[str, dict]) -> Path:
    """Add ``short_sentences`` and ``behavior`` to the folder's metrics.json (written atomically), keeping the rest."""
    from textcnn.atomic import atomic_write_text

    path = folder / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    metrics["short_sentences"] = {source: r["accuracy"] for source, r in sentences.items()}
    metrics["short_sentences"]["examples"] = sum(r["examples"] for r in sentences.values())
    metrics["behavior"] = {"cases": sum(r["cases"] for r in rates.values()),
                           "pass_rates": {capability: r["rate"] for capability, r in rates.items()}}
    atomic_write_text(path, json.dumps(metrics, indent=2))
    return path


# --- the run -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> dict:
    from benchmarks.accuracy import fit_baseline, training_metrics, validation_split
    from textcnn.augment import holds_negator

    args = parse_args(argv)
    if args.record and args.quick:
        sys.exit("error: --record stores a measurement: not with --quick")
    common.set_threads(args.threads)
    info = common.machine()
    pipeline, _ = common.load_pipeline(args.model)
    val_fraction, split_seed = validation_split(training_metrics(pipeline))

    def model_labels(texts: list[str]) -> list[int]:
        return [pipeline.labels.index(p.label) for p in pipeline.predict(texts)]

    def model_log_odds(texts: list[str]) -> list[float]:
        return common.positive_log_odds(pipeline, texts)

    with common.dataset_source(args.dataset, args.quick) as source:
        data = common.load_texts(source, ("train",), common.QUICK_SIZES if args.quick else None, args.seed)
    train_texts, train_labels = data["train"]
    baseline, fitted = fit_baseline(train_texts, train_labels, args.baseline_c, val_fraction, split_seed)

    def baseline_labels(texts: list[str]) -> list[int]:
        return baseline.predict_proba(texts).argmax(axis=1).tolist()

    cases = build_suite()
    texts, labels, sources, sentences_from = load_sentences(args.sentences, args.quick, args.seed)
    negated = [holds_negator(tokens) for tokens in pipeline.tokenizer.batch(texts)]  # the model's own tokens
    unseen = None
    if args.snippets:
        from textcnn.snippets import SnippetError, comparable, read_snippets

        try:
            trained = {comparable(s.text) for s in read_snippets(args.snippets)}
        except SnippetError as error:
            sys.exit(f"error: --snippets: {error}")
        unseen = [comparable(t) not in trained for t in texts]
    results = {}
    for name, predict in (("textcnn", model_labels), ("tfidf_logreg", baseline_labels)):
        with common.Stopwatch() as t:
            rates = pass_rates(cases, predict)
            short = source_accuracy(texts, labels, sources, predict, negated, unpunctuated=True, unseen=unseen)
            typed = typed_negations(cases, predict)
        results[name] = {"capabilities": rates, "typed_negations": typed, "short_sentences": short,
                         "seconds": round(t.seconds, 2)}
    results["tfidf_logreg"]["fitted"] = fitted
    if args.teachers:
        for name, score in teacher_scorers(train_texts, train_labels, model_log_odds).items():
            def labels_of(texts, score=score):  # a score of exactly 0 (VADER: no known word) counts as negative
                return [int(x > 0) for x in score(texts)]
            results[name] = {"capabilities": pass_rates(cases, labels_of),
                             "short_sentences": source_accuracy(texts, labels, sources, labels_of, negated)}
    met = targets_met(results["textcnn"]["capabilities"], results["textcnn"]["short_sentences"])

    quick = " (QUICK: a small slice, not a measurement)" if args.quick else ""
    print(f"## Behavioural suite, held out{quick}\n")
    print(f"{len(cases)} cases; TF-IDF fitted on {len(train_texts):,} IMDb train reviews (C={fitted['C']:g}); "
          f"{common.describe_machine(info)}\n")
    model_rates, base_rates = results["textcnn"]["capabilities"], results["tfidf_logreg"]["capabilities"]
    rows = []
    for capability, r in model_rates.items():
        target = (TARGETS["negation"] if capability.startswith("negation")
                  else TARGETS["contrast"] if capability == "contrast" else None)
        rows.append([capability, r["cases"], f"{r['passed']}/{r['cases']} ({r['rate']:.1%})",
                     f"{base_rates[capability]['rate']:.1%}", f">= {target:.0%}" if target else ""])
    print(common.markdown_table(["capability", "cases", "TextCNN", "TF-IDF", "target"], rows))
    typed = {name: results[name]["typed_negations"] for name in ("textcnn", "tfidf_logreg")}
    print(f"\nThe {typed['textcnn']['cases']} negation cases with \"n't\", typed as people type it:\n")
    print(common.markdown_table(["spelling", "TextCNN", "TF-IDF"],
                                [[f'"{spelling}"', *(percent(typed[name]["pass_rates"][spelling]) for name in typed)]
                                 for spelling in CONTRACTION_SPELLINGS]))
    print(f"\n## Short sentences ({sentences_from})\n")
    print(common.markdown_table(
        ["source", "sentences", "TextCNN", "TextCNN on negative / positive ones",
         "TextCNN on those with / without a negator", "TextCNN without closing punctuation", "TF-IDF", "target"],
        [[s, r["examples"], f"{r['accuracy']:.1%}", " / ".join(percent(x) for x in r["by_label"].values()),
          f"{percent(r['by_negator']['with'])} ({r['by_negator']['examples_with']}) / {percent(r['by_negator']['without'])}",
          percent(r["unpunctuated"]),
          f"{results['tfidf_logreg']['short_sentences'][s]['accuracy']:.1%}", f">= {TARGETS['short_sentences']:.0%}"]
         for s, r in results["textcnn"]["short_sentences"].items()]))
    if unseen is not None:
        print(f"\nTextCNN on the sentences that are not among the rated texts of {args.snippets}: "
              + "; ".join(f"{s} {percent(r['unseen']['accuracy'])} of {r['unseen']['examples']}"
                          for s, r in results["textcnn"]["short_sentences"].items()))
    teachers = [name for name in results if name not in ("textcnn", "tfidf_logreg")]
    if teachers:
        print("\n## Labellers a student could learn from (pass rate; accuracy on the short sentences)\n")
        shown = [c for c in model_rates if c.startswith(("negation", "contrast"))]
        print(common.markdown_table(
            ["labeller", *shown, *results["textcnn"]["short_sentences"]],
            [[name, *(f"{results[name]['capabilities'][c]['rate']:.1%}" for c in shown),
              *(f"{r['accuracy']:.1%}" for r in results[name]["short_sentences"].values())]
             for name in ["textcnn", *teachers]]))
    missed = [k for k, v in met.items() if not v]
    print(f"\nTargets: {'all met' if not missed else 'NOT met: ' + ', '.join(missed)}.")

    if args.record:
        folder = Path(args.model)
        if not folder.is_dir():
            sys.exit("error: --record writes into a local model folder; --model is not one")
        textcnn = results["textcnn"]
        print(f"figures recorded in {record_measurements(folder, textcnn['short_sentences'], textcnn['capabilities'])}")
    record = {
        "config": {"model": args.model, "dataset": source, "sentences": sentences_from, "cases": len(cases),
                   "snippets": str(args.snippets) if args.snippets else None,
                   "val_fraction": val_fraction, "split_seed": split_seed, "behavior_targets": TARGETS},
        "results": results,
        "behavior_target_met": met,
        "target_met": {},
    }
    common.write_results("behavior", args, argv, record, info)
    return record


if __name__ == "__main__":
    main()
