"""What train.py prepares before the CNN trains, saved so later runs can skip preparing it.

Tokenising IMDb, fitting the n-gram teacher and adapting the word vectors take about 2.5 minutes
on a 2-core CPU and depend only on the data settings. A prepared folder holds their results:
``prepared.json`` (the data settings, the vocabulary, reports) and ``arrays.safetensors`` (each
split's token ids, flat, with offsets; labels; soft targets; the embedding vectors). A run with the
same data settings reads it instead, so CNN-only tuning runs start training at once, and a machine
without spaCy, gensim, scikit-learn or the dataset (a rented GPU, say) can train from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from textcnn.atomic import atomic_directory
from textcnn.data import EncodedSplit
from textcnn.vocab import Vocab

SETTINGS = "prepared.json"
ARRAYS = "arrays.safetensors"
SPLITS = ("labelled", "unlabelled", "validation", "test")


@dataclass
class Prepared:
    labelled: EncodedSplit  # the training reviews (validation carved out), with their labels
    unlabelled: EncodedSplit  # reviews with the teacher's soft labels (empty without distillation)
    validation: EncodedSplit  # encoded with the whole vocabulary (the words added after training included)
    test: EncodedSplit  # likewise
    vocab: Vocab  # the words the CNN trains on, then those --expand-vocab adds after training
    vectors: np.ndarray | None  # (trained_words, E) initial embeddings, None for random ones
    coverage: int  # trained words that have a pretrained vector
    dim: int  # embedding size
    teacher: dict | None  # the teacher's report, None without distillation
    trained_words: int | None = None  # how many of vocab's words the CNN trains on; None: all

    @property
    def trained_size(self) -> int:
        return len(self.vocab) if self.trained_words is None else self.trained_words


class SettingsMismatch(ValueError):
    """The folder was prepared with other data settings."""


def _split_tensors(name: str, split: EncodedSplit) -> dict[str, torch.Tensor]:
    lengths = split.lengths
    ids = np.concatenate(split.ids) if len(split) else np.zeros(0, dtype=np.int64)
    # IMDb's ids fit int16 (a quarter of int64's bytes: 54 instead of 217 MB), larger vocabularies int32
    small = not len(ids) or int(ids.max()) < 2**15
    tensors = {
        f"{name}.ids": torch.from_numpy(ids.astype(np.int16 if small else np.int32)),
        f"{name}.offsets": torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)),
        f"{name}.labels": torch.from_numpy(split.labels.astype(np.int64)),
    }
    if split.targets is not None:
        tensors[f"{name}.targets"] = torch.from_numpy(np.ascontiguousarray(split.targets, dtype=np.float32))
    return tensors


def _split_from(name: str, tensors: dict[str, torch.Tensor]) -> EncodedSplit:
    ids = tensors[f"{name}.ids"].numpy().astype(np.int64)
    offsets = tensors[f"{name}.offsets"].numpy()
    targets = tensors.get(f"{name}.targets")
    return EncodedSplit(
        [ids[start:end] for start, end in zip(offsets[:-1], offsets[1:])],
        tensors[f"{name}.labels"].numpy(),
        None if targets is None else targets.numpy(),
    )


def save_prepared(path: str | Path, prepared: Prepared, settings: dict) -> None:
    """Write ``prepared`` to the folder ``path`` (atomically: complete or not at all)."""
    tensors: dict[str, torch.Tensor] = {}
    for name in SPLITS:
        tensors.update(_split_tensors(name, getattr(prepared, name)))
    if prepared.vectors is not None:
        tensors["vectors"] = torch.from_numpy(np.ascontiguousarray(prepared.vectors, dtype=np.float32))
    meta = {"settings": settings, "vocab": prepared.vocab.itos, "coverage": prepared.coverage, "dim": prepared.dim,
            "teacher": prepared.teacher, "trained_words": prepared.trained_words}
    with atomic_directory(path) as staging:
        save_file(tensors, str(staging / ARRAYS))
        (staging / SETTINGS).write_text(json.dumps(meta, ensure_ascii=False))


def load_prepared(path: str | Path, settings: dict) -> Prepared:
    """Read a prepared folder; raises SettingsMismatch if it was made with other ``settings``."""
    path = Path(path)
    meta = json.loads((path / SETTINGS).read_text())
    saved = meta["settings"]
    changed = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
    if changed:
        raise SettingsMismatch(f"{path} was prepared with other data settings (saved, now): {changed}")
    tensors = load_file(str(path / ARRAYS))
    vectors = tensors.get("vectors")
    return Prepared(
        *(_split_from(name, tensors) for name in SPLITS),
        vocab=Vocab(meta["vocab"]),
        vectors=None if vectors is None else vectors.numpy(),
        coverage=meta["coverage"],
        dim=meta["dim"],
        teacher=meta["teacher"],
        trained_words=meta.get("trained_words"),  # absent from folders written before vocabulary expansion
    )


def is_prepared(path: str | Path) -> bool:
    return (Path(path) / SETTINGS).is_file() and (Path(path) / ARRAYS).is_file()
