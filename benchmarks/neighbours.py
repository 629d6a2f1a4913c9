"""Where training put a word: its nearest words in a model's embedding table and in GloVe.

    python benchmarks/neighbours.py relish savor            # the bundled model
    python benchmarks/neighbours.py relish --model runs/other -k 5
    python benchmarks/neighbours.py good --quick             # random stand-in vectors: seconds (CI)

For each word: its id in the model's vocabulary (ids follow falling frequency in the training
reviews; the words vocabulary expansion added after training come last), and the ``k`` words whose
vectors are nearest to it (cosine) among the model's vocabulary, once in the model's embedding table
and once in the GloVe vectors the model started from (the source in its metrics.json). Both lists
draw from the same words, the vocabulary's words that GloVe knows, so where they differ training
moved the word, or its neighbours. A word GloVe lacks gets only the model's list.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from benchmarks.expansion import add_glove_argument, glove_source, model_glove  # noqa: E402
from textcnn.vocab import PAD_ID, UNK_ID  # noqa: E402


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__)
    p.add_argument("words", nargs="+", help="the words to place")
    p.add_argument("-k", type=int, default=10, help="neighbours listed per word")
    add_glove_argument(p)
    return p.parse_args(argv)


def nearest(vectors, words: list[str], word: str, k: int) -> list[str]:
    """The ``k`` words nearest to ``word`` by cosine, ``vectors`` holding one row per word of ``words``."""
    import numpy as np

    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[words.index(word)]
    order = [i for i in np.argsort(-similarity, kind="stable") if words[i] != word]
    return [words[i] for i in order[:k]]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    common.set_threads(args.threads)
    pipeline, _ = common.load_pipeline(args.model)
    vocab, metrics = pipeline.vocab.itos, pipeline.metrics or {}
    stand_in = args.quick and not args.glove
    source = "stand-in" if stand_in else glove_source(args, metrics)
    table = pipeline.model.embedding.weight.detach().float().numpy()
    glove = model_glove(args, metrics, pipeline.vocab, table.shape[1])

    # the two tables over the same words, gathered once for every word asked about
    index = {word: row for row, word in enumerate(glove.words)}
    ids = [i for i, word in enumerate(vocab) if i not in (PAD_ID, UNK_ID) and word in index]
    shared = [vocab[i] for i in ids]
    model_rows, glove_rows = table[ids], glove.vectors[[index[w] for w in shared]]
    trained_size = common.trained_vocab_size(pipeline)
    results = {}
    for word in args.words:
        if word not in pipeline.vocab.stoi or word in (vocab[PAD_ID], vocab[UNK_ID]):
            results[word] = {"id": None}
            continue
        word_id = pipeline.vocab.stoi[word]
        row = {"id": word_id, "trained": word_id < trained_size, "glove": word in index}
        if row["glove"]:
            row["model"] = nearest(model_rows, shared, word, args.k)
            row["glove_neighbours"] = nearest(glove_rows, shared, word, args.k)
        else:  # among every word the model has, GloVe's or not
            words = vocab[UNK_ID + 1:]
            row["model"] = nearest(table[UNK_ID + 1:], words, word, args.k)
        results[word] = row

    quick = " (QUICK: stand-in vectors, not a measurement)" if args.quick else ""
    print(f"## Nearest words in {args.model} and in GloVe {source}{quick}\n")
    rows = []
    for word, row in results.items():
        if row["id"] is None:
            rows.append([word, "not in the vocabulary", "", ""])
        else:
            kind = "trained" if row["trained"] else "added after training"
            rows.append([word, f"{row['id']:,} ({kind})", ", ".join(row["model"]),
                         ", ".join(row.get("glove_neighbours", ["(GloVe lacks it)"]))])
    print(common.markdown_table(["word", "id", "nearest in the model", "nearest in GloVe"], rows))
    record = {"config": {"model": args.model, "glove": source, "k": args.k},
              "results": results, "target_met": {}}
    common.write_results("neighbours", args, argv, record)
    return record


if __name__ == "__main__":
    main()
