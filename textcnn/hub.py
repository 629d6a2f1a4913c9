"""Model folders and Hub repos: what a saved model is made of, how it is read back safely, how it is pushed.

A model folder (local or a Hub repo) holds ``model.safetensors``, ``config.json``, ``vocab.json``,
optionally ``filter_ngrams.json`` (what each filter detects, for the demo), ``metrics.json``,
``training_curves.png`` and the model card ``README.md``. Weights are only ever read from
safetensors: a folder or repo that carries a pickle is refused, and loading is strict.

Every failure to load is a :class:`ModelLoadError` and every failure to push a :class:`PushError`,
each with a one-sentence message for the user.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError
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
# how a pickle (protocol 2+) and torch.save's zip archive begin; a safetensors file starts with its header size
PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is one sentence meant for the user."""


class PushError(RuntimeError):
    """A model could not be pushed; the message is meant for the user and says how to retry."""


# --- saving -------------------------------------------------------------------------------

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

    ``extra_files`` maps file names (``metrics.json``, ``README.md``, ...) to their bytes; a
    ``README.md`` there replaces the config-only card that ``save_pretrained`` writes.
    """
    path = Path(path)
    with atomic_directory(path) as staging:
        model.save_pretrained(staging)
        for name, data in (extra_files or {}).items():
            (staging / name).write_bytes(data)
    return path


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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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

    model_id = str(model_id)
    if os.path.isdir(model_id):
        folder = Path(model_id)
        _refuse_pickles(_local_file_names(folder), f"The model folder {model_id}")
        return folder
    if os.path.exists(model_id):
        raise ModelLoadError(f"{model_id} is a file, not a model folder.")
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


def _load_weights(path: Path, source: str) -> dict:
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(PICKLE_MAGIC):
        raise ModelLoadError(
            f"{source}: {WEIGHTS} is a pickle (torch.save) file, not safetensors; textcnn never unpickles "
            "weights, so it refuses this model."
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ModelLoadError(f"{source}: {WEIGHTS} is not a valid safetensors file ({_first_line(error)}).") from error


def _check_state_matches(model: TextCNN, state: dict, source: str) -> None:
    """Name what differs between the weights file and the model its config describes."""
    expected = model.state_dict()
    problems = [f"missing {name}" for name in sorted(expected.keys() - state.keys())]
    problems += [f"unexpected {name}" for name in sorted(state.keys() - expected.keys())]
    problems += [
        f"{name} is {tuple(state[name].shape)}, config says {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise ModelLoadError(f"{source}: its {WEIGHTS} does not match its {CONFIG} ({shown}).")


def load_model_files(cls: type[TextCNN], *, model_id: str, revision: str | None = None, cache_dir=None,
                     force_download: bool = False, local_files_only: bool = False, token=None,
                     map_location: str = "cpu") -> TextCNN:
    """Build ``cls`` from a folder or Hub repo, strictly, from safetensors only.

    Config, weights, vocabulary and filter n-grams all come from the same folder (one snapshot
    of one commit) and must agree with each other.
    """
    from textcnn.model import TextCNNConfig

    folder = resolve_model_folder(model_id, revision, cache_dir, force_download, local_files_only, token)
    source = f"The model at {model_id}" + (f"@{revision}" if revision else "")
    for name in (CONFIG, WEIGHTS, VOCAB):
        if not (folder / name).is_file():
            raise ModelLoadError(f"{source} has no {name}; a textcnn model needs {CONFIG}, {WEIGHTS} and {VOCAB}.")
    try:
        config = TextCNNConfig(**json.loads((folder / CONFIG).read_text(encoding="utf-8")))
    except (TypeError, ValueError) as error:  # unknown or missing keys, bad values, broken JSON
        raise ModelLoadError(f"{source} has an invalid {CONFIG} ({_first_line(error)}).") from error
    model = cls(config)
    state = _load_weights(folder / WEIGHTS, source)
    _check_state_matches(model, state, source)
    model.load_state_dict(state, strict=True)
    model.to(map_location)
    try:
        vocab = Vocab.load(folder / VOCAB)
    except (ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(f"{source} has an invalid {VOCAB} ({_first_line(error)}).") from error
    if len(vocab) != config.vocab_size:
        raise ModelLoadError(f"{source}: {VOCAB} has {len(vocab)} tokens but {CONFIG} says vocab_size={config.vocab_size}.")
    model.vocab_tokens = vocab.itos
    if (folder / FILTER_NGRAMS).is_file():
        try:
            filter_ngrams = json.loads((folder / FILTER_NGRAMS).read_text(encoding="utf-8"))
        except ValueError as error:
            raise ModelLoadError(f"{source} has an invalid {FILTER_NGRAMS} ({_first_line(error)}).") from error
        if not isinstance(filter_ngrams, list) or len(filter_ngrams) != config.num_features:
            raise ModelLoadError(f"{source}: {FILTER_NGRAMS} does not describe the {config.num_features} filters of its {CONFIG}.")
        model.filter_ngrams = filter_ngrams
    model.source_folder = folder
    model.eval()
    return model


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
    from textcnn.card import model_card_for_folder
    from textcnn.model import TextCNN

    folder = Path(folder)
    staged = Path(destination) / (folder.name or "model")
    staged.mkdir(parents=True)
    for name in MODEL_FILES:
        if name != CARD and (folder / name).is_file():
            shutil.copy2(folder / name, staged / name)
    model_card_for_folder(staged, repo_id, revision).save(str(staged / CARD))
    load_model_files(TextCNN, model_id=str(staged))
    return staged


def push_model_folder(folder: str | Path, repo_id: str, *, revision: str | None = None, private: bool = False,
                      token: str | None = None, commit_message: str | None = None) -> str:
    """Push a saved model folder to the Hub in one commit; returns the commit's URL.

    Creates the repo (``private`` applies only then) and the branch ``revision`` if needed; removes
    files a previous push left that this model lacks, and any pickle. The local folder is only read:
    whatever fails, it stays as it was, and the PushError says how to retry.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from textcnn.model import TextCNN

    folder = Path(folder)
    if not folder.is_dir():
        raise PushError(f"There is no model folder {folder} to push.")
    try:
        load_model_files(TextCNN, model_id=str(folder))
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
