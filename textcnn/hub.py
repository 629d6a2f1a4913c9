"""Model folders and Hub repos: what a saved model is made of, how it is read back safely, how it is pushed.

A model folder (local or a Hub repo) holds ``model.safetensors``, ``config.json``, ``vocab.json``,
optionally ``filter_ngrams.json`` (what each filter detects, for the demo), ``metrics.json``,
``training_curves.png`` and the model card ``README.md``. This module is the only code that reads
or writes them: :func:`save_model_folder` writes a folder, :func:`load_model` reads one back as a
:class:`LoadedModel`, :func:`push_model_folder` publishes one.

Nothing from a folder is trusted before it is checked. Every file is read only up to a size bound;
``config.json`` is validated (types and ranges) before anything is allocated; the safetensors
header is parsed and every tensor's name, dtype and shape is checked against the config, and the
file's size against the tensors, before the weights are read; the weights must be finite; the
vocabulary, the filter n-grams and the metrics are checked for structure. A folder or repo that
carries a pickle is refused, and weights are only ever read from safetensors.

Every failure to load is a :class:`ModelLoadError` and every failure to push a :class:`PushError`,
each with a one-sentence message for the user.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import shutil
import stat
import struct
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from huggingface_hub import ModelCard
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from textcnn.atomic import atomic_directory, atomic_write_bytes, atomic_write_text
from textcnn.card import model_card
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.vocab import Vocab

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
VOCAB = "vocab.json"
FILTER_NGRAMS = "filter_ngrams.json"
METRICS = "metrics.json"
CURVES = "training_curves.png"
CARD = "README.md"
MODEL_FILES = [WEIGHTS, CONFIG, VOCAB, FILTER_NGRAMS, METRICS, CURVES, CARD]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

# What a config.json may ask for. Far above any model this project trains (57,125 x 50 embeddings,
# 3 x 300 filters), low enough that a hostile config cannot make the loader allocate gigabytes.
MAX_VOCAB_SIZE = 2_000_000
MAX_EMBEDDING_DIM = 2_048
MAX_NUM_FILTERS = 4_096
MAX_FILTER_WIDTHS = 16  # how many widths
MAX_FILTER_WIDTH = 64  # tokens in one n-gram
MAX_TEXT_TOKENS = 100_000  # the largest max_tokens
MAX_LABELS = 32
MAX_LABEL_CHARS = 100
MAX_PARAMETERS = 200_000_000  # 800 MB of float32 weights
# file sizes read at most (the vocabulary and the n-grams also in proportion to the config)
MAX_CONFIG_BYTES = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024  # the safetensors header (JSON); this model's is about 600 bytes
MAX_VOCAB_BYTES = 64 * 1024 * 1024
VOCAB_BYTES_PER_TOKEN = 1024  # a token is at most a few hundred bytes of JSON
MAX_NGRAMS_BYTES = 64 * 1024 * 1024
NGRAMS_BYTES_PER_FILTER = 64 * 1024
MAX_NGRAMS_PER_FILTER = 100
MAX_NGRAM_CHARS = 10_000
MAX_METRICS_BYTES = 1024 * 1024
# floating dtypes a safetensors file may hold, and their sizes; integer weights would make every
# prediction 0.5 / 0.5, so they are refused
FLOAT_DTYPES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}
TORCH_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64}

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is one sentence meant for the user."""


class PushError(RuntimeError):
    """A model could not be pushed; the message is meant for the user and says how to retry."""


@dataclass
class LoadedModel:
    """A model folder read back and checked: the network and what it needs to be used on text."""

    model: TextCNN  # in eval mode, on the requested device
    vocab: Vocab  # token ids of the embedding rows
    filter_ngrams: list[list[dict]] | None  # per filter, [{"ngram": str, "activation": float}, ...]
    metrics: dict | None  # the training run's metrics.json
    folder: Path  # where the files were read (a Hub snapshot is named by its commit)


# --- checks (pure: data in, a value or ValueError out) --------------------------------------

def _shown(name: str, limit: int = 100) -> str:
    """A name from a file, safe to put in a one-line message (quoted if it holds odd characters)."""
    name = str(name)[:limit]
    return name if name.isprintable() and name.strip() == name else repr(name)


def _is_int(value: object) -> bool:
    return type(value) is int  # JSON true/false are bools, which are ints in Python


def _is_number(value: object) -> bool:
    return (type(value) is int or type(value) is float) and math.isfinite(value)


def _int_in(data: dict, key: str, low: int, high: int) -> int:
    value = data[key]
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{key} must be a whole number from {low:,} to {high:,}, got {value!r:.40}")
    return value


def _fraction(data: dict, key: str) -> float:
    value = data[key]
    if not _is_number(value) or not 0 <= value < 1:
        raise ValueError(f"{key} must be a number from 0 up to (not including) 1, got {value!r:.40}")
    return float(value)


def expected_shapes(config: TextCNNConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor of a TextCNN with ``config``, without building one."""
    shapes = {"embedding.weight": (config.vocab_size, config.embedding_dim)}
    for i, width in enumerate(config.filter_widths):
        shapes[f"convs.{i}.weight"] = (config.num_filters, config.embedding_dim, width)
        shapes[f"convs.{i}.bias"] = (config.num_filters,)
    shapes["head.weight"] = (len(config.labels), config.num_features)
    shapes["head.bias"] = (len(config.labels),)
    return shapes


def parse_config(data: object) -> TextCNNConfig:
    """A ``TextCNNConfig`` from a parsed ``config.json``; ValueError if a type or range is wrong.

    Missing keys take their defaults (older folders lack the newer keys); unknown keys are errors.
    """
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object")
    defaults = asdict(TextCNNConfig())
    unknown = sorted(_shown(key, 40) for key in data if key not in defaults)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown[:5])}" + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    data = {**defaults, **data}
    vocab_size = _int_in(data, "vocab_size", 2, MAX_VOCAB_SIZE)
    embedding_dim = _int_in(data, "embedding_dim", 1, MAX_EMBEDDING_DIM)
    num_filters = _int_in(data, "num_filters", 1, MAX_NUM_FILTERS)
    max_tokens = _int_in(data, "max_tokens", 1, MAX_TEXT_TOKENS)
    widths = data["filter_widths"]
    if (not isinstance(widths, list) or not 1 <= len(widths) <= MAX_FILTER_WIDTHS
            or not all(_is_int(w) and 1 <= w <= MAX_FILTER_WIDTH for w in widths)):
        raise ValueError(f"filter_widths must be a list of 1 to {MAX_FILTER_WIDTHS} whole numbers from 1 to "
                         f"{MAX_FILTER_WIDTH}, got {widths!r:.60}")
    labels = data["labels"]
    if (not isinstance(labels, list) or not 2 <= len(labels) <= MAX_LABELS
            or not all(isinstance(label, str) and label.strip() and label.isprintable() and len(label) <= MAX_LABEL_CHARS
                       for label in labels)):
        # printable: a label is shown on one line, and control or zero-width characters would hide what it says
        raise ValueError(f"labels must be a list of 2 to {MAX_LABELS} non-empty printable strings of at most "
                         f"{MAX_LABEL_CHARS} characters, got {labels!r:.60}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct, got {labels!r:.60}")
    config = TextCNNConfig(
        vocab_size=vocab_size,
        embedding_dim=embedding_dim,
        filter_widths=tuple(widths),
        num_filters=num_filters,
        dropout=_fraction(data, "dropout"),
        embedding_dropout=_fraction(data, "embedding_dropout"),
        labels=tuple(labels),
        max_tokens=max_tokens,
    )
    parameters = sum(math.prod(shape) for shape in expected_shapes(config).values())
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"it describes {parameters:,} weights, more than the {MAX_PARAMETERS:,} textcnn loads")
    return config


def read_safetensors_header(head: bytes, file_size: int) -> tuple[dict[str, dict], int]:
    """(tensor entries, where the data starts) from a safetensors file's first bytes; ValueError if malformed.

    The format: an 8-byte little-endian header length, that many bytes of JSON mapping each tensor's
    name to its ``dtype``, ``shape`` and ``data_offsets`` (relative to the end of the header), then
    the data. ``head`` must hold the length and the header (at most ``8 + MAX_HEADER_BYTES`` bytes).
    """
    if file_size < 8 or len(head) < 8:
        raise ValueError(f"it is {file_size} bytes, too short to hold a header")
    (length,) = struct.unpack("<Q", head[:8])
    if length > MAX_HEADER_BYTES or 8 + length > file_size:
        raise ValueError(f"its first 8 bytes give a header of {length:,} bytes, which the file of {file_size:,} bytes "
                         f"cannot hold within the {MAX_HEADER_BYTES:,} allowed")
    if len(head) < 8 + length:
        raise ValueError("its header is cut short")
    try:
        header = json.loads(head[8 : 8 + length].decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"its header is not JSON ({_first_line(error)})") from error
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("its __metadata__ is not a mapping of strings")
    for name, entry in header.items():
        if (not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str)
                or not isinstance(entry.get("shape"), list) or not all(_is_int(d) and d >= 0 for d in entry["shape"])
                or not isinstance(entry.get("data_offsets"), list) or len(entry["data_offsets"]) != 2
                or not all(_is_int(o) and o >= 0 for o in entry["data_offsets"])):
            raise ValueError(f"its entry for {_shown(name)} is not a dtype, a shape and two data offsets")
    return header, 8 + length


def check_weights_header(header: dict[str, dict], data_size: int, config: TextCNNConfig) -> None:
    """ValueError unless the safetensors entries are exactly the tensors ``config`` describes, as floats,
    laid end to end over the ``data_size`` bytes after the header (the message completes "its weights file ...")."""
    expected = expected_shapes(config)
    problems = [f"missing {name}" for name in sorted(expected.keys() - header.keys())]
    problems += [f"unexpected {_shown(name)}" for name in sorted(header.keys() - expected.keys())]
    problems += [
        f"{name} is {tuple(header[name]['shape'])}, config says {shape}"
        for name, shape in expected.items()
        if name in header and tuple(header[name]["shape"]) != shape
    ]
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise ValueError(f"does not match its {CONFIG} ({shown})")
    not_float = sorted(f"{name} is {_shown(entry['dtype'], 10)}" for name, entry in header.items() if entry["dtype"] not in FLOAT_DTYPES)
    if not_float:
        raise ValueError(f"holds non-floating-point weights ({', '.join(not_float[:3])}); textcnn loads F16, BF16, "
                         "F32 or F64 weights only")
    end = 0
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, stop = entry["data_offsets"]
        if begin != end or stop - begin != math.prod(entry["shape"]) * FLOAT_DTYPES[entry["dtype"]]:
            raise ValueError(f"gives {name} data offsets that do not fit its shape and dtype")
        end = stop
    if end != data_size:
        raise ValueError(f"holds {data_size:,} bytes after the header, but the tensors of its {CONFIG} take {end:,}")


def parse_filter_ngrams(data: object, num_features: int) -> list[list[dict]]:
    """The per-filter n-grams of ``filter_ngrams.json``; ValueError unless one list per filter of
    ``{"ngram": str, "activation": finite number}`` entries."""
    if not isinstance(data, list) or len(data) != num_features:
        count = f"{len(data)} entries" if isinstance(data, list) else type(data).__name__
        raise ValueError(f"it must hold one list per filter, {num_features} in all, not {count}")
    for f, entries in enumerate(data):
        if not isinstance(entries, list) or len(entries) > MAX_NGRAMS_PER_FILTER:
            raise ValueError(f"filter {f} has no list of at most {MAX_NGRAMS_PER_FILTER} n-grams")
        for entry in entries:
            if (not isinstance(entry, dict) or set(entry) != {"ngram", "activation"}
                    or not isinstance(entry["ngram"], str) or len(entry["ngram"]) > MAX_NGRAM_CHARS
                    or not _is_number(entry["activation"])):
                raise ValueError(f"an entry of filter {f} is not {{\"ngram\": text, \"activation\": finite number}}")
    return data


def parse_metrics(data: object) -> dict:
    """A ``metrics.json`` object; ValueError if it is not one, or if a figure the demo shows is not a fraction."""
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object")

    def fraction(value: object) -> bool:
        return _is_number(value) and 0 <= value <= 1

    if data.get("test_accuracy") is not None and not fraction(data["test_accuracy"]):
        raise ValueError("test_accuracy must be a number from 0 to 1")
    short = data.get("short_sentences")
    if short is not None:
        if (not isinstance(short, dict)
                or not all(fraction(short[key]) for key in ("yelp", "amazon") if key in short)
                or ("examples" in short and not (_is_int(short["examples"]) and short["examples"] >= 0))):
            raise ValueError("short_sentences must hold accuracies from 0 to 1 and a count of examples")
    return data


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- saving -------------------------------------------------------------------------------

def write_model_files(directory: Path, model: TextCNN, vocab: Vocab, filter_ngrams: list[list[dict]] | None = None) -> None:
    """Weights, config, vocabulary and (if given) filter n-grams, each written atomically."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # bytes through atomic_write_bytes, not safetensors' save_file (which makes the file 0600):
    # the weights are shared like every other file of the folder
    atomic_write_bytes(directory / WEIGHTS, safetensors_bytes(state, metadata={"format": "pt"}))
    atomic_write_text(directory / CONFIG, json.dumps(asdict(model.config), sort_keys=True, indent=2))
    atomic_write_text(directory / VOCAB, json.dumps(vocab.to_json(), ensure_ascii=False))
    if filter_ngrams is not None:
        atomic_write_text(directory / FILTER_NGRAMS, json.dumps(filter_ngrams, ensure_ascii=False))


def save_model_folder(model: TextCNN, path: str | Path, *, vocab: Vocab, filter_ngrams: list[list[dict]] | None = None,
                      extra_files: dict[str, bytes] | None = None) -> Path:
    """Write a complete model folder atomically: readers see the old folder or the new one, never half.

    ``extra_files`` maps file names (``metrics.json``, ``training_curves.png``, ``README.md``) to
    their bytes; without a ``README.md`` there, the card is generated from the config and the
    metrics. The folder is loaded back, with every check of :func:`load_model`, before it replaces
    ``path``: a folder that would be refused is never written (ValueError says why).
    """
    if len(vocab) != model.config.vocab_size:
        raise ValueError(f"the vocabulary has {len(vocab)} tokens but the model has {model.config.vocab_size} embedding rows")
    extra_files = dict(extra_files or {})
    path = Path(path)
    with atomic_directory(path) as staging:
        write_model_files(staging, model, vocab, filter_ngrams)
        for name, data in extra_files.items():
            atomic_write_bytes(staging / name, data)
        if CARD not in extra_files:
            metrics = json.loads(extra_files[METRICS]) if METRICS in extra_files else None
            atomic_write_text(staging / CARD, str(model_card(model.config, metrics)))
        try:
            load_model(staging)
        except ModelLoadError as error:
            raise ValueError(f"Not saving {path}: the folder would not load back ({error})") from error
    return path


def model_card_for_folder(folder: str | Path, repo_id: str | None = None, revision: str | None = None) -> ModelCard:
    """The card for a saved model folder, from its checked ``config.json`` and (if there) ``metrics.json``."""
    loaded = load_model(folder)
    return model_card(loaded.model.config, loaded.metrics, repo_id, revision)


# --- loading ------------------------------------------------------------------------------

def is_pickle_name(name: str) -> bool:
    return name.lower().endswith(PICKLE_SUFFIXES)


def _refuse_pickles(names: list[str], source: str) -> None:
    pickles = sorted(name for name in names if is_pickle_name(name))
    if pickles:
        raise ModelLoadError(
            f"{source} contains pickle files ({', '.join(pickles)}), which can run arbitrary code when "
            "loaded; textcnn only loads safetensors weights, so it refuses this model."
        )


def _local_file_names(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()]


def _cached_repo_file_names(repo_id: str, snapshot: Path, cache_dir) -> list[str]:
    """Every file of the repo at the snapshot's commit, from the tree listing the download cached.

    Only the model's own files are downloaded, so this is how a pickle elsewhere in the repo is seen;
    without a cached listing (a cache written by an older huggingface_hub) the snapshot is all we know.
    """
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    try:
        return [f.path for f in get_cached_repo_tree(repo_id, revision=snapshot.name, cache_dir=cache_dir)]
    except CachedRepoTreeNotFoundError:
        return []


def resolve_model_folder(
    model_id: str | Path,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """A local folder as it is, or a Hub repo's model files downloaded (through the usual cache) to a snapshot.

    Refuses pickles anywhere in the folder or repo. Honours ``HF_HUB_OFFLINE`` and the cache
    (``HF_HOME`` / ``HF_HUB_CACHE`` or ``cache_dir``): offline, or with the Hub out of reach, a
    cached copy of the revision is used.
    """
    model_id = str(model_id)
    if os.path.isdir(model_id):
        folder = Path(model_id)
        _refuse_pickles(_local_file_names(folder), f"The model folder {model_id}")
        return folder
    if os.path.exists(model_id):
        raise ModelLoadError(f"{model_id} is a file, not a model folder.")
    # the Hub client only from here on: a local folder loads with whatever huggingface_hub is installed
    import httpx2
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        DisabledRepoError,
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
        XetDownloadError,
    )
    from huggingface_hub.utils import validate_repo_id
    try:
        validate_repo_id(model_id)
    except HFValidationError as error:
        raise ModelLoadError(f"There is no model folder {model_id} and it is not a valid Hub repo id either.") from error

    where = f"{model_id}@{revision}" if revision else model_id
    try:
        snapshot = Path(snapshot_download(
            repo_id=model_id,
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
            # only what the model reads is downloaded; pickles are seen in the repo listing instead
            allow_patterns=MODEL_FILES,
        ))
    except GatedRepoError as error:
        raise ModelLoadError(f"The Hub repo {where} is gated: accept its terms on the Hub and log in (HF_TOKEN).") from error
    except RepositoryNotFoundError as error:
        raise ModelLoadError(
            f"There is no model folder {model_id} here and no model repo {model_id} on the Hub "
            "(if it is private, log in or set HF_TOKEN)."
        ) from error
    except RevisionNotFoundError as error:
        raise ModelLoadError(f"The Hub repo {model_id} has no branch, tag or commit {revision!r}.") from error
    except DisabledRepoError as error:
        raise ModelLoadError(f"The Hub repo {model_id} has been disabled by its owner or the Hub.") from error
    except IncompleteSnapshotError as error:
        raise ModelLoadError(
            f"The cached copy of {where} is incomplete and the Hub cannot be reached to finish it; "
            "retry with a network connection."
        ) from error
    except LocalEntryNotFoundError as error:
        cache = cache_dir or constants.HF_HUB_CACHE
        if constants.is_offline_mode():
            reason = "HF_HUB_OFFLINE is set"
        elif local_files_only:
            reason = "only local files were allowed"
        else:
            reason = f"the Hub cannot be reached ({_first_line(error.__cause__ or error)})"
        raise ModelLoadError(f"{where} is not in the Hub cache ({cache}) and {reason}, so it cannot be loaded.") from error
    except HfHubHTTPError as error:
        raise ModelLoadError(
            f"The Hub answered HTTP {error.response.status_code} for {where} ({_first_line(error)})."
        ) from error
    except EntryNotFoundError as error:  # the repo changed while it was being downloaded
        raise ModelLoadError(f"A file of {where} disappeared during the download ({_first_line(error)}); retry.") from error
    except (httpx2.HTTPError, XetDownloadError) as error:
        raise ModelLoadError(
            f"Downloading {where} failed on the network ({type(error).__name__}: {_first_line(error)}); retry."
        ) from error
    except OSError as error:  # disk full, permissions on the cache, ...
        raise ModelLoadError(f"Could not store {where} in the Hub cache ({_first_line(error)}).") from error

    names = _local_file_names(snapshot) + _cached_repo_file_names(model_id, snapshot, cache_dir)
    _refuse_pickles(names, f"The Hub repo {where}")
    return snapshot


def _open_regular(path: Path, source: str) -> int:
    """A read-only descriptor of ``path``, which must be a regular file (not a FIFO, a device or a folder)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise ModelLoadError(f"{source}: {path.name} cannot be read ({error.strerror or _first_line(error)}).") from error
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelLoadError(f"{source}: {path.name} is not a regular file.")
    return fd


def _read_bounded(path: Path, limit: int, source: str) -> bytes:
    """The bytes of ``path``, refused if there are more than ``limit`` (checked before reading)."""
    fd = _open_regular(path, source)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise ModelLoadError(f"{source}: {path.name} is {max(size, len(data)):,} bytes, more than the {limit:,} "
                             "allowed for it.")
    return data


def _read_json(path: Path, limit: int, source: str) -> object:
    try:
        return json.loads(_read_bounded(path, limit, source).decode("utf-8"))
    except (ValueError, RecursionError) as error:  # broken JSON or UTF-8, absurd nesting
        raise ModelLoadError(f"{source} has an invalid {path.name} (not JSON: {_first_line(error)}).") from error


def _check(parse, source: str, name: str, *args):
    """``parse(*args)``, its ValueError turned into the one-sentence ModelLoadError for ``name``."""
    try:
        return parse(*args)
    except ValueError as error:
        raise ModelLoadError(f"{source} has an invalid {name} ({_first_line(error)}).") from error


def _check_weights_file(path: Path, config: TextCNNConfig, source: str) -> dict[str, dict]:
    """The safetensors header of ``path``, checked against ``config`` from the header alone (no data read)."""
    fd = _open_regular(path, source)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8 + MAX_HEADER_BYTES)
    try:
        header, data_start = read_safetensors_header(head, size)
    except ValueError as error:
        raise ModelLoadError(f"{source}: {WEIGHTS} is not a valid safetensors file ({_first_line(error)}).") from error
    try:
        check_weights_header(header, size - data_start, config)
    except ValueError as error:
        raise ModelLoadError(f"{source}: its {WEIGHTS} {_first_line(error)}.") from error
    return header


def _read_weights(path: Path, header: dict[str, dict], source: str) -> dict[str, torch.Tensor]:
    """The tensors of a checked safetensors file, as float32; refused if any is not finite."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ModelLoadError(f"{source}: {WEIGHTS} is not a valid safetensors file ({_first_line(error)}).") from error
    # read a second time by safetensors: it must still be the file whose header was checked
    if ({k: (v.dtype, tuple(v.shape)) for k, v in state.items()}
            != {k: (TORCH_DTYPES[e["dtype"]], tuple(e["shape"])) for k, e in header.items()}):
        raise ModelLoadError(f"{source}: {WEIGHTS} changed while it was being read; retry.")
    # float32, as the model computes (a float64 weight past float32's range becomes infinite here)
    state = {name: tensor.float() for name, tensor in state.items()}
    for name, tensor in state.items():
        # numpy's check: torch's elementwise kernels start its thread pool, which on a busy machine
        # took 0.3 s for the 1.5 million embedding weights (numpy: 1.5 ms)
        if not np.isfinite(tensor.numpy()).all():
            raise ModelLoadError(f"{source}: {WEIGHTS} holds NaN or infinite values in {name}, so its predictions "
                                 "would be meaningless.")
    return state


def load_model(source: str | Path, revision: str | None = None, *, cache_dir: str | Path | None = None,
               force_download: bool = False, local_files_only: bool = False, token: str | bool | None = None,
               map_location: str | torch.device = "cpu") -> LoadedModel:
    """Read a model folder or Hub repo (``revision``: branch, tag or commit to pin), checking everything.

    Config, weights, vocabulary, filter n-grams and metrics all come from the same folder (one
    snapshot of one commit) and must agree with each other; each is checked before it is used, in
    the order that keeps a hostile folder cheap to refuse: the config first, then the weights'
    header against it, the JSON files, and only then the weights themselves.
    """
    folder = resolve_model_folder(source, revision, cache_dir, force_download, local_files_only, token)
    where = f"The model at {source}" + (f"@{revision}" if revision else "")
    for name in (CONFIG, WEIGHTS, VOCAB):
        if not (folder / name).exists():
            raise ModelLoadError(f"{where} has no {name}; a textcnn model needs {CONFIG}, {WEIGHTS} and {VOCAB}.")
    config = _check(parse_config, where, CONFIG, _read_json(folder / CONFIG, MAX_CONFIG_BYTES, where))
    header = _check_weights_file(folder / WEIGHTS, config, where)
    vocab_limit = min(MAX_VOCAB_BYTES, 4096 + VOCAB_BYTES_PER_TOKEN * config.vocab_size)
    vocab = _check(Vocab.from_json, where, VOCAB, _read_json(folder / VOCAB, vocab_limit, where))
    if len(vocab) != config.vocab_size:
        raise ModelLoadError(f"{where}: {VOCAB} has {len(vocab)} tokens but {CONFIG} says vocab_size={config.vocab_size}.")
    filter_ngrams = None
    if (folder / FILTER_NGRAMS).exists():
        limit = min(MAX_NGRAMS_BYTES, 4096 + NGRAMS_BYTES_PER_FILTER * config.num_features)
        data = _read_json(folder / FILTER_NGRAMS, limit, where)
        filter_ngrams = _check(parse_filter_ngrams, where, FILTER_NGRAMS, data, config.num_features)
    metrics = None
    if (folder / METRICS).exists():
        metrics = _check(parse_metrics, where, METRICS, _read_json(folder / METRICS, MAX_METRICS_BYTES, where))
    state = _read_weights(folder / WEIGHTS, header, where)
    # built on the CPU and randomly initialised (milliseconds), then every tensor replaced by the file's:
    # building under torch.device("meta") would skip that but imports torch._dynamo, 2.5 s of every start
    model = TextCNN(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.to(map_location).eval()
    return LoadedModel(model=model, vocab=vocab, filter_ngrams=filter_ngrams, metrics=metrics, folder=folder)


# --- pushing ------------------------------------------------------------------------------

def retry_command(folder: str | Path, repo_id: str, revision: str | None = None, private: bool = False) -> str:
    """The command that pushes an existing model folder, for messages after a failed push."""
    command = ["python", "-m", "textcnn", "push", str(folder), repo_id]
    if revision:
        command += ["--revision", revision]
    if private:
        command.append("--private")
    return shlex.join(command)


def check_push_prerequisites(repo_id: str, token: str | None = None, check_online: bool = True) -> str:
    """The token a push to ``repo_id`` will use; raises PushError if the push cannot work.

    Meant to run before training, so that a missing or read-only token is reported in seconds, not
    after hours. Only a token the Hub explicitly rejects fails online; if the Hub cannot be reached
    now, that is logged and the push is attempted at the end anyway.
    """
    import httpx2
    from huggingface_hub import HfApi, constants, get_token
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PushError(f"{repo_id!r} is not a valid Hub repo id ({_first_line(error)}).") from error
    if constants.is_offline_mode():
        raise PushError("HF_HUB_OFFLINE is set, so nothing can be pushed to the Hub; unset it to push.")
    token = token or get_token()
    if not token:
        raise PushError(
            "Pushing to the Hub needs a token with write access, and none was found: set HF_TOKEN or run "
            "`hf auth login`."
        )
    if not check_online:
        return token
    try:
        identity = HfApi(token=token).whoami(token=token)
    except HfHubHTTPError as error:
        if error.response.status_code == 401:
            raise PushError(f"The Hub rejected the token: {_first_line(error)}") from error
        log.warning("could not check the Hub token (HTTP %s); the push will be tried anyway", error.response.status_code)
        return token
    except (httpx2.HTTPError, OSError) as error:
        log.warning("could not reach the Hub to check the token (%s); the push will be tried anyway", _first_line(error))
        return token
    role = identity.get("auth", {}).get("accessToken", {}).get("role")
    if role == "read":
        raise PushError("The Hub token is read-only; pushing needs a token with write access (HF_TOKEN or `hf auth login`).")
    return token


def stage_upload(folder: str | Path, destination: str | Path, repo_id: str, revision: str | None = None) -> Path:
    """Copy what will be uploaded into ``destination``/<folder name> and check that it loads back.

    The copy holds the model files only, with a model card written for ``repo_id`` and
    ``revision`` (so its loading snippet is right); uploading the copy rather than the folder means
    the commit is consistent even if the folder is rewritten meanwhile.
    """
    folder = Path(folder)
    staged = Path(destination) / (folder.name or "model")
    staged.mkdir(parents=True)
    for name in MODEL_FILES:
        if name != CARD and (folder / name).is_file():
            shutil.copy2(folder / name, staged / name)
    atomic_write_text(staged / CARD, str(model_card_for_folder(staged, repo_id, revision)))
    load_model(staged)
    return staged


def push_model_folder(folder: str | Path, repo_id: str, *, revision: str | None = None, private: bool = False,
                      token: str | None = None, commit_message: str | None = None) -> str:
    """Push a saved model folder to the Hub in one commit; returns the commit's URL.

    Creates the repo (``private`` applies only then) and the branch ``revision`` if needed; removes
    files a previous push left that this model lacks, and any pickle. The local folder is only read:
    whatever fails, it stays as it was, and the PushError says how to retry.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    folder = Path(folder)
    if not folder.is_dir():
        raise PushError(f"There is no model folder {folder} to push.")
    try:
        load_model(folder)
    except ModelLoadError as error:
        raise PushError(f"Refusing to push {folder}: {error}") from error
    token = check_push_prerequisites(repo_id, token, check_online=False)
    retry = retry_command(folder, repo_id, revision, private)
    with tempfile.TemporaryDirectory(prefix="textcnn-push-") as tmp:
        try:
            api = HfApi(token=token)
            # create_repo resolves a bare name to "user/name", which the card's snippet needs
            repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
            staged = stage_upload(folder, tmp, repo_id, revision)
            if revision and revision != "main":
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            uploaded = sorted(p.name for p in staged.iterdir())
            stale = [
                name for name in api.list_repo_files(repo_id, revision=revision)
                if (name in MODEL_FILES and name not in uploaded) or is_pickle_name(name)
            ]
            operations = [CommitOperationAdd(name, str(staged / name)) for name in uploaded]
            operations += [CommitOperationDelete(name) for name in stale]
            # create_commit, not upload_folder: upload_folder may split an upload into several commits,
            # and a repo must never show new weights beside an old config
            commit = api.create_commit(
                repo_id,
                operations,
                commit_message=commit_message or f"Upload TextCNN model from {folder.name}",
                revision=revision,
            )
        except Exception as error:  # any failure: the folder is untouched, so say how to retry
            raise PushError(
                f"Pushing {folder} to {repo_id} failed ({type(error).__name__}: {_first_line(error)}); the local "
                f"model folder is intact, retry with: {retry}"
            ) from error
    return commit.commit_url
