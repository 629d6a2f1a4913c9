"""How a model reads the words of a general-English sentiment lexicon, common and rare.

    pip download --no-deps afinn==0.1 -d downloads   # the AFINN lexicon's source archive, from PyPI
    python benchmarks/lexicon.py --lexicon downloads/afinn-0.1.tar.gz                 # the bundled model
    python benchmarks/lexicon.py --lexicon downloads/afinn-0.1.tar.gz --model runs/other
    python benchmarks/lexicon.py --quick                                              # a stand-in lexicon: seconds (CI)

The behavioural suite asks about a few dozen sentiment words; visitors type thousands. AFINN-165
(Finn Årup Nielsen's word list, 2011, extended in 2015: 3,382 English words and phrases, each scored
from -5 to +5 by hand, for sentiment in microblogs) comes in the afinn package's source archive from
PyPI (not shipped here), and no part of training reads it. For the lexicon's one-word entries with a non-zero score
that the model's vocabulary holds, grouped by their rank in the vocabulary (ids follow falling
frequency in the training reviews; the words vocabulary expansion added after training last), this
prints how well the model's log-odds separate the positive words from the negative ones (ROC AUC:
0.5 is chance, 1 a perfect split, whatever the model's lean) in three frames: the word alone, "It
was {word}." and "It was not {word}." (where the negative words should read higher). Nothing here
reads IMDb.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

LEXICON_FILE = "AFINN-en-165.txt"
FRAMES = {"alone": "{}", "it was": "It was {}.", "it was not": "It was not {}."}
BAND_EDGES = (2, 5_000, 10_000, 20_000)  # vocabulary ids; the trained vocabulary's end and the expansion follow
MIN_WORDS = 20  # a band with fewer words of either sign gives no AUC


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__)
    p.add_argument("--lexicon", type=Path, default=None,
                   help=f"the afinn source archive (pip download --no-deps afinn==0.1) or its {LEXICON_FILE}; "
                        "with --quick and none, a stand-in made of the toy reviews' words")
    return p.parse_args(argv)


def read_afinn(path: Path) -> dict[str, int]:
    """{word: score} for the one-word entries of AFINN (letters only) with a non-zero score."""
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            member = next((m for m in archive.getmembers() if m.name.endswith("/" + LEXICON_FILE)), None)
            if member is None:
                sys.exit(f"error: {path} holds no {LEXICON_FILE}")
            text = archive.extractfile(member).read().decode("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    scores = {}
    for line in text.splitlines():
        word, _, score = line.rpartition("\t")
        if word.isalpha() and int(score) != 0:
            scores[word] = int(score)
    return scores


def quick_lexicon() -> dict[str, int]:
    return {**{word: 3 for word in common.POSITIVE}, **{word: -3 for word in common.NEGATIVE}}


def bands(vocab_size: int, trained_size: int) -> list[tuple[str, int, int]]:
    """(name, first id, end id) of each rank band of the vocabulary."""
    edges = [e for e in BAND_EDGES if e < trained_size] + [trained_size]
    named = [(f"ids {lo:,} to {hi - 1:,}", lo, hi) for lo, hi in zip(edges, edges[1:])]
    if vocab_size > trained_size:
        named.append(("added after training", trained_size, vocab_size))
    return named


def auc(positive: list[bool], scores: list[float], min_words: int = MIN_WORDS) -> float | None:
    """ROC AUC of ``scores`` for telling the positive words from the others; None with fewer than
    ``min_words`` of either."""
    from sklearn.metrics import roc_auc_score

    if min(sum(positive), len(positive) - sum(positive)) < max(1, min_words):
        return None
    return float(roc_auc_score(positive, scores))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.lexicon is None and not args.quick:
        sys.exit("error: pass --lexicon (pip download --no-deps afinn==0.1 -d downloads), or --quick")
    common.set_threads(args.threads)
    info = common.machine()
    pipeline, _ = common.load_pipeline(args.model)
    lexicon = read_afinn(args.lexicon) if args.lexicon else quick_lexicon()
    trained_size = common.trained_vocab_size(pipeline)
    min_words = 1 if args.quick else MIN_WORDS

    results = {}
    for name, lo, hi in bands(len(pipeline.vocab), trained_size):
        words = [w for w in pipeline.vocab.itos[lo:hi] if w in lexicon]
        positive = [lexicon[w] > 0 for w in words]
        row = {"first_id": lo, "end_id": hi, "words": len(words), "positive": sum(positive)}
        for frame, template in FRAMES.items():
            scores = common.positive_log_odds(pipeline, [template.format(w) for w in words]) if words else []
            if frame == "it was not":
                scores = [-s for s in scores]  # a negated negative word should read positive
            row[frame] = auc(positive, scores, min_words)
        results[name] = row

    quick = " (QUICK: a stand-in lexicon, not a measurement)" if args.quick else ""
    print(f"## Lexicon words read by {args.model}{quick}\n")
    print(f"{len(lexicon):,} one-word entries with a non-zero score; {common.describe_machine(info)}\n")
    print(common.markdown_table(
        ["vocabulary ids", "words (positive)", *(f"AUC: {frame}" for frame in FRAMES)],
        [[name, f"{r['words']:,} ({r['positive']:,})", *("n/a" if r[f] is None else f"{r[f]:.3f}" for f in FRAMES)]
         for name, r in results.items()]))
    record = {"config": {"model": args.model, "lexicon": str(args.lexicon) if args.lexicon else "stand-in",
                         "entries": len(lexicon), "frames": FRAMES}, "results": results, "target_met": {}}
    common.write_results("lexicon", args, argv, record, info)
    return record


if __name__ == "__main__":
    main()
