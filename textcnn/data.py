"""IMDb through ``datasets``: loading, checks, cached tokenisation, the validation split, and batching."""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textcnn.vocab import PAD_ID, UNK_ID, Vocab

IMDB_HUB_ID = "stanfordnlp/imdb"
LABELS = (0, 1)  # negative, positive
UNLABELLED = "unsupervised"  # the split whose reviews carry no label (-1)
_tokenizer = None  # a Tokenizer per process, made on first use (spaCy is imported only then)
_guarded_pid = None  # the worker process that has already tied its life to its parent's


class DataError(ValueError):
    """A data set that cannot be trained on; the message names the split (or file) and the problem."""


class HubUnreachable(DataError):
    """The data set is on the Hub, which cannot be reached, and no copy is cached."""


def load_imdb(source: str | Path = IMDB_HUB_ID, splits: Sequence[str] = ("train", "test"), cache_dir=None):
    """The IMDb splits as a ``datasets.DatasetDict``, from a Hub id or a local copy of its layout.

    A local copy is a folder holding ``plain_text/{train,test,unsupervised}-*.parquet`` (or those
    files directly), exactly as the Hub dataset stores them. Raises DataError for a missing split,
    an unreadable file, or a Hub that cannot be reached (and no cached copy).
    """
    from datasets import DatasetDict, load_dataset
    from datasets.exceptions import DatasetGenerationError

    path = Path(source)
    if path.is_dir():
        root = path / "plain_text" if (path / "plain_text").is_dir() else path
        files = {split: sorted(str(p) for p in root.glob(f"{split}-*.parquet")) for split in splits}
        missing = [split for split, found in files.items() if not found]
        if missing:
            raise DataError(f"{root} has no parquet files for the {' and '.join(missing)} split"
                            f"{'s' if len(missing) > 1 else ''} (expected {missing[0]}-*.parquet)")
        for split, names in files.items():
            for name in names:
                _check_parquet(Path(name), split)
        try:
            return load_dataset("parquet", data_files=files, cache_dir=cache_dir)
        except DatasetGenerationError as error:  # a file whose footer is intact but whose data is not
            for split, names in files.items():
                for name in names:
                    _check_parquet(Path(name), split, whole=True)  # names the file
            raise DataError(f"the parquet files of {root} could not be read: {_one_line(error.__cause__ or error)}") from error
    try:
        loaded = load_dataset(str(source), cache_dir=cache_dir)
    except ConnectionError as error:  # datasets' answer when the Hub is unreachable and nothing is cached
        raise HubUnreachable(f"could not reach the Hugging Face Hub to download {source}, and no copy is cached") from error
    except FileNotFoundError as error:
        raise DataError(f"{source} is neither a folder here nor a data set on the Hugging Face Hub") from error
    absent = [split for split in splits if split not in loaded]
    if absent:
        raise DataError(f"{source} has no {' or '.join(absent)} split (it has {', '.join(loaded)})")
    return DatasetDict({split: loaded[split] for split in splits})


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _check_parquet(path: Path, split: str, whole: bool = False) -> None:
    """Refuse a file that is not a complete parquet file (a truncated copy loses its footer);
    ``whole`` reads all its data too, not only the footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
        if whole:
            pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path.name} (the {split} split) is not a readable parquet file: {_one_line(error)}") from error
    if metadata.num_rows == 0:  # datasets cannot read a file without a row group
        raise DataError(f"the {split} split is empty ({path.name} holds no rows)")
    # checked here, per file: datasets would give a column one split lacks to it, full of nulls
    _check_columns(split, metadata.schema.to_arrow_schema().names, f" ({path.name})")


def check_splits(splits: Mapping, val_fraction: float) -> None:
    """Raise DataError unless every split can be trained or tested on.

    Labelled splits need a ``text`` column of non-empty strings and an integer ``label`` column of
    0 (negative) and 1 (positive); the unlabelled split needs the texts only. The train split must
    leave reviews of each class on both sides of the validation split.
    """
    for name, dataset in splits.items():
        _check_columns(name, dataset.column_names)
        if len(dataset) == 0:
            raise DataError(f"the {name} split is empty")
        _check_texts(name, dataset.data.column("text"))
        if name != UNLABELLED:
            _check_labels(name, dataset.data.column("label"))
    if "train" in splits:
        check_validation_size(splits["train"].data.column("label").to_numpy(), val_fraction)


def _check_columns(split: str, columns: Sequence[str], where: str = "") -> None:
    needed = ("text",) if split == UNLABELLED else ("text", "label")
    missing = [column for column in needed if column not in columns]
    if missing:
        raise DataError(f"the {split} split{where} has no {' or '.join(repr(c) for c in missing)} column "
                        f"(its columns: {', '.join(columns) or 'none'})")


def _check_texts(split: str, texts) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise DataError(f"the {split} split's texts are of type {texts.type}, not strings")
    blank = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0), True)  # null counts as blank
    count = pc.sum(blank).as_py() or 0
    if count:
        first = int(np.flatnonzero(blank.to_numpy(zero_copy_only=False))[0])
        raise DataError(f"the {split} split has {count} empty or missing text{'s' if count > 1 else ''} "
                        f"(the first in row {first})")


def _check_labels(split: str, labels) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_integer(labels.type):
        raise DataError(f"the {split} split's labels are of type {labels.type}, not integers "
                        f"({LABELS[0]} negative, {LABELS[1]} positive)")
    if labels.null_count:
        raise DataError(f"the {split} split has {labels.null_count} missing label{'s' if labels.null_count > 1 else ''}")
    values = set(pc.unique(labels).to_pylist())
    if values - set(LABELS) == {-1}:
        raise DataError(f"the {split} split has unlabelled reviews (label -1), which belong in the {UNLABELLED} split")
    if values - set(LABELS):
        raise DataError(f"the {split} split has labels {sorted(values - set(LABELS))}; "
                        f"only {LABELS[0]} (negative) and {LABELS[1]} (positive) are allowed")


def check_validation_size(labels: Sequence[int], fraction: float) -> None:
    """Raise DataError unless ``stratified_split`` leaves each class on both sides (train and validation)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(LABELS))
    held_out = [int(round(n * fraction)) for n in counts]
    if any(h < 1 or n - h < 1 for n, h in zip(counts, held_out)):
        raise DataError(
            f"the train split is too small for a validation split of {fraction:g}: its "
            + " and ".join(f"{n} reviews of class {c}" for c, n in enumerate(counts))
            + " must leave at least one of each class for both training and validation"
        )


def tokenization_fingerprint(with_spacy: bool = True) -> str:
    """A hash of everything that decides the tokens: the tokenizer module's code (its cleaning
    rules, settings and fast path) and the function here that calls it, comments and layout aside,
    and spaCy's version (its English rules ship with it). ``with_spacy=False`` leaves spaCy's
    version out, for machines without spaCy (one that trains from a prepared folder)."""
    import textcnn.tokenizer

    if not with_spacy:
        return _fingerprint(textcnn.tokenizer.__file__, "")
    import spacy

    return _fingerprint(textcnn.tokenizer.__file__, spacy.__version__)


@functools.cache  # parsing the sources takes a while; a run tokenises up to three splits
def _fingerprint(tokenizer_file: str, spacy_version: str) -> str:
    sources = [Path(tokenizer_file).read_text(encoding="utf-8"), inspect.getsource(_tokenize_batch)]
    parts = [ast.dump(ast.parse(source)) for source in sources] + [spacy_version]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _prctl():
    """libc's prctl on Linux (None elsewhere), looked up in the parent: a child just forked from a
    threaded process should not take the dynamic loader's lock."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


def _die_with(parent_pid: int, prctl=None) -> None:
    """End this process when the process ``parent_pid`` (its parent) ends, even by SIGKILL, which
    runs no cleanup: a tokenising worker would otherwise wait for work for ever."""
    prctl = prctl or _prctl()
    if prctl is not None:
        import signal

        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the kernel kills this process when the thread that forked it exits
    else:
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


# processes forked while tokenising are datasets' workers; the state lives in this process only
_fork_guard = {"registered": False, "active": 0, "parent": 0, "from_main_thread": False, "prctl": None}


def _before_fork() -> None:
    import threading

    _fork_guard["parent"] = os.getpid()
    _fork_guard["from_main_thread"] = threading.current_thread() is threading.main_thread()


def _after_fork_in_child() -> None:
    # only children of the main thread: the kernel's signal follows the forking thread, not the process
    if _fork_guard["active"] and _fork_guard["from_main_thread"]:
        _die_with(_fork_guard["parent"], _fork_guard["prctl"])


@contextlib.contextmanager
def _workers_die_with_this_process() -> Iterator[None]:
    """Processes forked inside the block end when this one does (set in the child right after the
    fork, before it could wait for work). Workers started another way are tied to their parent by
    :func:`_tokenize_batch` on their first batch."""
    if not _fork_guard["registered"] and hasattr(os, "register_at_fork"):
        _fork_guard["prctl"] = _prctl()
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _fork_guard["registered"] = True
    _fork_guard["active"] += 1
    try:
        yield
    finally:
        _fork_guard["active"] -= 1


def _tokenize_batch(batch: dict, rules: str = "") -> dict:
    """``rules`` is the tokenization fingerprint: unused here, it is part of the cache key."""
    global _tokenizer, _guarded_pid
    if _guarded_pid != os.getpid():
        import multiprocess

        parent = multiprocess.parent_process()
        if parent is not None:  # a worker process
            _die_with(parent.pid)
        _guarded_pid = os.getpid()
    if _tokenizer is None:
        from textcnn.tokenizer import Tokenizer

        _tokenizer = Tokenizer()
    return {"tokens": _tokenizer.batch(batch["text"])}


def tokenize_dataset(dataset, num_proc: int | None = None):
    """Add a ``tokens`` column (drops ``text``); ``datasets`` caches the result on disk, keyed by
    the data and :func:`tokenization_fingerprint`, so a change of tokenizer or spaCy re-tokenises."""
    with _workers_die_with_this_process():
        return dataset.map(
            _tokenize_batch,
            batched=True,
            batch_size=1_000,
            num_proc=num_proc if num_proc and num_proc > 1 else None,
            remove_columns=["text"],
            fn_kwargs={"rules": tokenization_fingerprint()},
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

    def within(self, vocab_size: int) -> EncodedSplit:
        """These texts as an embedding table of ``vocab_size`` rows reads them: later ids become ``<unk>``."""
        return EncodedSplit([np.where(ids < vocab_size, ids, UNK_ID) for ids in self.ids], self.labels, self.targets)

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
