"""IMDb through ``datasets``: loading, cached tokenisation, the validation split, and batching."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textcnn.vocab import PAD_ID, Vocab

IMDB_HUB_ID = "stanfordnlp/imdb"
_tokenizer = None  # a Tokenizer per process, made on first use (spaCy is imported only then)


def load_imdb(source: str | Path = IMDB_HUB_ID, splits: Sequence[str] = ("train", "test"), cache_dir=None):
    """The IMDb splits as a ``datasets.DatasetDict``, from a Hub id or a local copy of its layout.

    A local copy is a folder holding ``plain_text/{train,test,unsupervised}-*.parquet`` (or those
    files directly), exactly as the Hub dataset stores them.
    """
    from datasets import DatasetDict, load_dataset

    path = Path(source)
    if path.is_dir():
        root = path / "plain_text" if (path / "plain_text").is_dir() else path
        files = {split: sorted(str(p) for p in root.glob(f"{split}-*.parquet")) for split in splits}
        missing = [split for split, found in files.items() if not found]
        if missing:
            raise FileNotFoundError(f"{root} has no parquet files for split(s) {missing} (expected {missing[0]}-*.parquet)")
        return load_dataset("parquet", data_files=files, cache_dir=cache_dir)
    loaded = load_dataset(str(source), cache_dir=cache_dir)
    return DatasetDict({split: loaded[split] for split in splits})


def _tokenize_batch(batch: dict) -> dict:
    global _tokenizer
    if _tokenizer is None:
        from textcnn.tokenizer import Tokenizer

        _tokenizer = Tokenizer()
    return {"tokens": _tokenizer.batch(batch["text"])}


def tokenize_dataset(dataset, num_proc: int | None = None):
    """Add a ``tokens`` column (drops ``text``); ``datasets`` caches the result on disk."""
    return dataset.map(
        _tokenize_batch,
        batched=True,
        batch_size=1_000,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        remove_columns=["text"],
        desc="tokenizing",
    )


def stratified_split(labels: Sequence[int], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): ``fraction`` of each class goes to validation, chosen by ``seed``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        val.append(rng.choice(members, size=int(round(len(members) * fraction)), replace=False))
    val_idx = np.sort(np.concatenate(val))
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx


@dataclass
class EncodedSplit:
    """Token ids of each text (truncated), with labels; what the training loop consumes."""

    ids: list[np.ndarray]
    labels: np.ndarray  # (N,) class index; with ``targets``, the most likely class
    targets: np.ndarray | None = None  # (N, C) class probabilities to train towards (soft labels)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    def subset(self, indices: Sequence[int]) -> EncodedSplit:
        index = np.asarray(indices, dtype=np.int64)
        targets = None if self.targets is None else self.targets[index]
        return EncodedSplit([self.ids[i] for i in indices], self.labels[index], targets)

    def soft_targets(self, num_classes: int) -> np.ndarray:
        """(N, C) targets: the soft ones, else one-hot labels."""
        if self.targets is not None:
            return self.targets
        return np.eye(num_classes, dtype=np.float32)[self.labels]


def concatenate(first: EncodedSplit, second: EncodedSplit) -> EncodedSplit:
    """Both splits in one; when either has soft targets, the other's labels become one-hot targets."""
    targets = None
    if first.targets is not None or second.targets is not None:
        classes = (first.targets if first.targets is not None else second.targets).shape[1]
        targets = np.concatenate([first.soft_targets(classes), second.soft_targets(classes)])
    return EncodedSplit(first.ids + second.ids, np.concatenate([first.labels, second.labels]), targets)


def encode(token_lists: Sequence[Sequence[str]], labels: Sequence[int] | None, vocab: Vocab, max_tokens: int,
           targets: np.ndarray | None = None) -> EncodedSplit:
    """Ids of each token list; pass ``targets`` (N, C) instead of ``labels`` for soft labels."""
    ids = [np.asarray(vocab.encode(tokens[:max_tokens]) or [PAD_ID], dtype=np.int64) for tokens in token_lists]
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float32)
        labels = targets.argmax(axis=1) if labels is None else labels
    return EncodedSplit(ids, np.asarray(labels, dtype=np.int64), targets)


def pad_batch(sequences: Sequence[np.ndarray], min_length: int = 1, multiple: int = 1) -> torch.Tensor:
    """Right-pad id arrays with ``<pad>`` into one (B, T) tensor, T rounded up to ``multiple``."""
    length = max(min_length, max(len(s) for s in sequences))
    length = -(-length // multiple) * multiple
    out = np.full((len(sequences), length), PAD_ID, dtype=np.int64)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = seq
    return torch.from_numpy(out)


def batch_indices(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None = None,
                  bucket: bool = True) -> list[np.ndarray]:
    """Batches of indices. With ``rng`` the order is random; ``bucket`` groups similar lengths.

    Bucketing sorts each random pool of 50 batches by length, so batches carry little padding
    (several times faster on IMDb, whose lengths vary 10x) while batch composition stays random.
    """
    order = rng.permutation(len(lengths)) if rng is not None else np.arange(len(lengths))
    if bucket:
        pool = batch_size * 50
        order = np.concatenate(
            [chunk[np.argsort(lengths[chunk], kind="stable")] for chunk in np.split(order, range(pool, len(order), pool))]
        ) if len(order) else order
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def iterate_batches(split: EncodedSplit, batches: list[np.ndarray], min_length: int,
                    multiple: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(ids, targets) per batch: class indices (B,), or class probabilities (B, C) when the split has soft targets.
    ``multiple``: pad lengths up to a multiple of this (few distinct shapes, for GPU kernels chosen per shape)."""
    targets = split.labels if split.targets is None else split.targets
    for index in batches:
        yield pad_batch([split.ids[i] for i in index], min_length, multiple), torch.from_numpy(targets[index])
