"""Model folders and Hub repos: what a saved model is made of, and how it is read back safely.

A model folder (local or a Hub repo) holds ``model.safetensors``, ``config.json``, ``vocab.json``,
optionally ``filter_ngrams.json`` (what each filter detects, for the demo), ``metrics.json``,
``training_curves.png`` and the model card ``README.md``. Weights are only ever read from
safetensors: a folder that carries a pickle is refused, and loading is strict.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors.torch import load_file, save_file

from textcnn.atomic import atomic_directory, atomic_write_text
from textcnn.vocab import Vocab

if TYPE_CHECKING:
    from textcnn.model import TextCNN

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
VOCAB = "vocab.json"
FILTER_NGRAMS = "filter_ngrams.json"
METRICS = "metrics.json"
CURVES = "training_curves.png"
CARD = "README.md"
MODEL_FILES = [WEIGHTS, CONFIG, VOCAB, FILTER_NGRAMS, METRICS, CURVES, CARD]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is one sentence meant for the user."""


def save_model_files(model: TextCNN, directory: Path) -> None:
    """Weights, vocabulary and filter n-grams (the Hub mixin writes ``config.json`` itself)."""
    if model.vocab_tokens is None:
        raise ValueError("the model has no vocabulary attached (model.vocab_tokens); it cannot be used on text")
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS), metadata={"format": "pt"})
    Vocab(model.vocab_tokens).save(directory / VOCAB)
    if model.filter_ngrams is not None:
        atomic_write_text(directory / FILTER_NGRAMS, json.dumps(model.filter_ngrams, ensure_ascii=False))


def save_model_folder(model: TextCNN, path: str | Path, extra_files: dict[str, bytes] | None = None) -> Path:
    """Write a complete model folder atomically: readers see the old folder or the new one, never half.

    ``extra_files`` maps file names (``metrics.json``, ``README.md``, ...) to their bytes.
    """
    path = Path(path)
    with atomic_directory(path) as staging:
        model.save_pretrained(staging)
        (staging / CARD).unlink(missing_ok=True)  # the mixin's generic card; ours comes in extra_files
        for name, data in (extra_files or {}).items():
            (staging / name).write_bytes(data)
    return path


def _refuse_pickles(folder: Path, source: str) -> None:
    pickles = sorted(p.name for p in folder.iterdir() if p.name.lower().endswith(PICKLE_SUFFIXES))
    if pickles:
        raise ModelLoadError(
            f"{source} contains pickle files ({', '.join(pickles)}), which can run arbitrary code when "
            "loaded; textcnn only loads safetensors weights, so it refuses this model."
        )


def resolve_model_folder(
    model_id: str | Path,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """A local folder as it is, or a Hub repo downloaded (through the usual cache) to a local snapshot."""
    if os.path.isdir(model_id):
        return Path(model_id)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{model_id}@{revision}" if revision else str(model_id)
    try:
        snapshot = snapshot_download(
            repo_id=str(model_id),
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
            allow_patterns=MODEL_FILES + [f"*{suffix}" for suffix in PICKLE_SUFFIXES],
        )
    except HFValidationError as error:
        raise ModelLoadError(f"{model_id!r} is neither a local folder nor a valid Hub repo id.") from error
    except GatedRepoError as error:
        raise ModelLoadError(f"The Hub repo {where} is gated: accept its terms and log in (HF_TOKEN).") from error
    except RepositoryNotFoundError as error:
        raise ModelLoadError(
            f"No model repo {model_id!r} on the Hub (or it is private and no valid token was given)."
        ) from error
    except RevisionNotFoundError as error:
        raise ModelLoadError(f"The Hub repo {model_id!r} has no revision {revision!r}.") from error
    except LocalEntryNotFoundError as error:
        raise ModelLoadError(
            f"Could not download {where}: the Hub cannot be reached (or HF_HUB_OFFLINE is set) and the "
            "model is not in the local cache."
        ) from error
    except OSError as error:  # connection errors and other I/O failures
        raise ModelLoadError(f"Could not download {where} from the Hub: {error}") from error
    return Path(snapshot)


def load_model_files(cls: type[TextCNN], *, model_id: str, revision: str | None = None, cache_dir=None,
                     force_download: bool = False, local_files_only: bool = False, token=None,
                     map_location: str = "cpu", config=None, **unused) -> TextCNN:
    """Build ``cls`` from a folder or Hub repo, strictly, from safetensors only."""
    from textcnn.model import TextCNNConfig

    folder = resolve_model_folder(model_id, revision, cache_dir, force_download, local_files_only, token)
    source = f"the model at {model_id}" + (f"@{revision}" if revision else "")
    _refuse_pickles(folder, source)
    for name in (CONFIG, WEIGHTS, VOCAB):
        if not (folder / name).is_file():
            raise ModelLoadError(f"{source} has no {name}; a textcnn model needs {CONFIG}, {WEIGHTS} and {VOCAB}.")
    if not isinstance(config, TextCNNConfig):  # the mixin decodes config.json; read it if it did not
        try:
            config = TextCNNConfig(**json.loads((folder / CONFIG).read_text(encoding="utf-8")))
        except (TypeError, ValueError) as error:
            raise ModelLoadError(f"{source} has an invalid {CONFIG}: {error}") from error
    try:
        model = cls(config)
        state = load_file(str(folder / WEIGHTS), device=str(map_location))
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(f"{source}: its weights do not match its {CONFIG} ({first_line}).") from error
    vocab = Vocab.load(folder / VOCAB)
    if len(vocab) != config.vocab_size:
        raise ModelLoadError(
            f"{source}: {VOCAB} has {len(vocab)} tokens but {CONFIG} says vocab_size={config.vocab_size}."
        )
    model.vocab_tokens = vocab.itos
    if (folder / FILTER_NGRAMS).is_file():
        model.filter_ngrams = json.loads((folder / FILTER_NGRAMS).read_text(encoding="utf-8"))
    model.source_folder = folder
    model.eval()
    return model
