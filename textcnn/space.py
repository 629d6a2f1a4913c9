"""A Hugging Face Space for a pushed model, in one command: the demo and this package, the CPU build of
torch, and the model's weights pulled from the Hub at one commit (never stored in the Space).

The Space folder holds ``app.py``, the package sources under ``textcnn/``, a ``requirements.txt`` made
from the project's pinned serving requirements (torch from the CPU-only index: the default Linux wheel
is the CUDA build, gigabytes of GPU libraries for an app that runs on a CPU) and a ``README.md`` whose
front matter links the model (``models:``) and preloads its files at that commit (``preload_from_hub``). The Space variables
``TEXTCNN_MODEL`` / ``TEXTCNN_REVISION`` make the app load exactly those weights.

Every failure is a :class:`SpaceError` with a message for the user.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from textcnn.hub import CONFIG, MODEL_FILES, VOCAB, WEIGHTS, PushError, is_pickle_name

PACKAGE_DIR = Path(__file__).resolve().parent
# an installed wheel carries app.py and requirements.txt here (see setup.py); a checkout has them at its root
TEMPLATE_DIRS = (PACKAGE_DIR / "space_template", PACKAGE_DIR.parent)
APP_FILE = "app.py"
REQUIREMENTS = "requirements.txt"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
REQUIRED_MODEL_FILES = (CONFIG, WEIGHTS, VOCAB)
COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
SPACE_TITLE = "TextCNN IMDb Sentiment"
PYTHON_VERSION = "3.11"  # the version the project is tested with
KEEP_IN_SPACE = (".gitattributes",)  # what an update leaves in the Space repo besides the generated files


log = logging.getLogger(__name__)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class SpaceError(RuntimeError):
    """A Space could not be written or deployed; the message is meant for the user."""


# --- the Space's files: pure functions of the model, its commit and the project's files -----------

def check_commit(revision: str) -> str:
    """``revision`` if it is a full commit hash; a branch or tag is refused (it can move)."""
    if not COMMIT_HASH.fullmatch(revision or ""):
        raise SpaceError(
            f"--revision must be a full commit hash (40 hexadecimal characters), not {revision!r}, because a "
            "branch or tag can move and the Space would then serve weights that were never deployed."
        )
    return revision


def space_variables(model_id: str, commit: str) -> dict[str, str]:
    """The Space's environment variables: app.py serves this model at this commit."""
    return {"TEXTCNN_MODEL": model_id, "TEXTCNN_REVISION": commit}


def _pins(serving_requirements: str) -> list[str]:
    """The requirement lines of a requirements file: no comments, options or local paths (``-e .``)."""
    lines = (line.split("#", 1)[0].strip() for line in serving_requirements.splitlines())
    return [line for line in lines if line and not line.startswith(("-", ".", "/"))]


def _pinned_version(pins: list[str], name: str) -> str:
    for pin in pins:
        found = re.fullmatch(rf"{re.escape(name)}(\[[^\]]*\])?\s*==\s*([^\s;+]+)(\+\S+)?", pin, flags=re.IGNORECASE)
        if found:
            return found[2]
    raise SpaceError(f"The serving requirements pin no exact version of {name} (a line {name}==X), which the Space needs.")


def space_requirements(serving_requirements: str) -> str:
    """The Space's requirements.txt: the serving pins, with torch's CPU build from PyTorch's CPU index.

    The index is an extra one, so everything else still comes from PyPI; only torch is pinned to its
    ``+cpu`` local version, which exists on that index alone.
    """
    pins = _pins(serving_requirements)
    torch_version = _pinned_version(pins, "torch")
    lines = [
        "# Written by `textcnn space` from the project's pinned serving requirements.",
        "# torch's CPU-only build: the default Linux wheel is the CUDA one, gigabytes of GPU libraries for an app on a CPU.",
        f"--extra-index-url {CPU_TORCH_INDEX}",
    ]
    for pin in pins:
        if re.match(r"torch(\[[^\]]*\])?\s*==", pin, flags=re.IGNORECASE):
            pin = f"torch=={torch_version}+cpu"
        lines.append(pin)
    return "\n".join(lines) + "\n"


def preload_entry(model_id: str, commit: str, model_files: list[str]) -> str:
    """A ``preload_from_hub`` entry: ``repo file1,file2,... commit`` (the files the app reads, at that commit)."""
    return f"{model_id} {','.join(model_files)} {commit}"


def space_readme(space_id: str, model_id: str, commit: str, model_files: list[str], gradio_version: str) -> str:
    """README.md of the Space: its configuration (front matter) and what it serves."""
    from huggingface_hub import SpaceCardData

    data = SpaceCardData(
        title=SPACE_TITLE,
        sdk="gradio",
        sdk_version=gradio_version,
        python_version=PYTHON_VERSION,
        app_file=APP_FILE,
        license="mit",
        models=[model_id],
        datasets=["stanfordnlp/imdb"],
        emoji="🎬",
        colorFrom="blue",
        colorTo="red",
        short_description="Kim TextCNN for IMDb sentiment, explained exactly",
        pinned=False,
        # the build downloads the weights into the Space's Hub cache, so the app starts without fetching them
        preload_from_hub=[preload_entry(model_id, commit, model_files)],
    )
    return (
        f"---\n{data.to_yaml()}\n---\n\n"
        f"# {SPACE_TITLE}\n\n"
        f"The TextCNN sentiment demo, serving [{model_id}](https://huggingface.co/{model_id}) at commit "
        f"`{commit}`: the Space variables `TEXTCNN_MODEL={model_id}` and `TEXTCNN_REVISION={commit}` choose "
        "the model, and its files are preloaded from the Hub at that commit; no weights are stored here.\n\n"
        "This folder was written by `textcnn space`; to serve another model or commit, run it again:\n\n"
        "```bash\n"
        f"textcnn space {space_id} --model {model_id} --revision <commit>\n"
        "```\n"
    )


def template_file(name: str) -> Path:
    """``app.py`` or ``requirements.txt`` of the project, from the installed package or the checkout."""
    for folder in TEMPLATE_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise SpaceError(
        f"Cannot find the project's {name} (looked in {', '.join(str(f) for f in TEMPLATE_DIRS)}); "
        "install the textcnn package from a wheel, or run from a checkout of the project."
    )


def package_sources() -> dict[str, Path]:
    """The package's Python sources, by their path in the Space (``textcnn/...``)."""
    return {
        f"textcnn/{path.relative_to(PACKAGE_DIR).as_posix()}": path
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if "__pycache__" not in path.parts and TEMPLATE_DIRS[0] not in path.parents
    }


def space_files(space_id: str, model_id: str, commit: str, model_files: list[str]) -> dict[str, bytes]:
    """Every file of the Space, by its path in the Space repo."""
    serving = template_file(REQUIREMENTS).read_text(encoding="utf-8")
    gradio_version = _pinned_version(_pins(serving), "gradio")
    files = {path: source.read_bytes() for path, source in package_sources().items()}
    files[APP_FILE] = template_file(APP_FILE).read_bytes()
    files[REQUIREMENTS] = space_requirements(serving).encode()
    files["README.md"] = space_readme(space_id, model_id, commit, model_files, gradio_version).encode()
    return files


# --- the Hub ------------------------------------------------------------------------------

def model_files_at(api, model_id: str, commit: str) -> tuple[list[str], bool]:
    """(the model files the repo has at ``commit``, whether the repo is private); refuses what the app would."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = api.model_info(model_id, revision=commit)
    except RepositoryNotFoundError as error:
        raise SpaceError(f"There is no model repo {model_id} on the Hub (if it is private, log in or set HF_TOKEN).") from error
    except RevisionNotFoundError as error:
        raise SpaceError(f"The model repo {model_id} has no commit {commit}.") from error
    except HfHubHTTPError as error:
        raise SpaceError(f"The Hub answered HTTP {error.response.status_code} for {model_id}@{commit}.") from error
    except (httpx2.HTTPError, OSError) as error:  # no network, HF_HUB_OFFLINE, ...
        raise SpaceError(
            f"Cannot check {model_id}@{commit} on the Hub ({type(error).__name__}: {_first_line(error)})."
        ) from error
    names = [sibling.rfilename for sibling in info.siblings or []]
    pickles = sorted(name for name in names if is_pickle_name(name))
    if pickles:
        raise SpaceError(f"{model_id}@{commit} contains pickle files ({', '.join(pickles)}); the app refuses such a model.")
    missing = [name for name in REQUIRED_MODEL_FILES if name not in names]
    if missing:
        raise SpaceError(f"{model_id}@{commit} is not a textcnn model: it has no {', '.join(missing)}.")
    return [name for name in MODEL_FILES if name in names], bool(info.private)


def write_space_folder(out: str | Path, files: dict[str, bytes]) -> Path:
    """Write the Space's files into ``out``, a new or empty folder (never over someone's files)."""
    from textcnn.atomic import atomic_directory

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SpaceError(f"{out} already exists and is not an empty folder; pass a new folder to --out.")
    with atomic_directory(out) as staging:
        for path, data in files.items():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            (staging / path).write_bytes(data)
    return out


def deploy_space(space_id: str, model_id: str, revision: str, *, out: str | Path | None = None,
                 private: bool = False, token: str | None = None) -> str:
    """Create or update the Space ``space_id`` in one commit (or, with ``out``, write its folder there).

    Returns the Space's URL, or the folder written. The model is checked on the Hub first (the commit
    exists, holds a textcnn model and no pickle). An update replaces every file of the Space but
    ``.gitattributes``, so the Space holds exactly what ``--out`` writes.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    commit = check_commit(revision)
    for kind, repo_id in (("Space", space_id), ("model repo", model_id)):
        try:
            validate_repo_id(repo_id)
        except HFValidationError as error:
            raise SpaceError(f"{repo_id!r} is not a Hub {kind} id (user/name or org/name).") from error
        if "/" not in repo_id:  # the Space's README names both in full
            raise SpaceError(f"{repo_id!r} is not a Hub {kind} id: write it in full, user/name or org/name.")
    if out is None:
        from textcnn.hub import check_push_prerequisites

        try:
            token = check_push_prerequisites(space_id, token, check_online=False)
        except PushError as error:
            raise SpaceError(str(error)) from error
    api = HfApi(token=token)
    model_files, model_private = model_files_at(api, model_id, commit)
    files = space_files(space_id, model_id, commit, model_files)
    if out is not None:
        return str(write_space_folder(out, files))
    if model_private:
        log.warning(
            "%s is private: add a secret HF_TOKEN (read access) to the Space, or it cannot download the weights", model_id)
    try:
        space_id = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True).repo_id
        # variables before the commit: the build the commit starts already sees them
        for key, value in space_variables(model_id, commit).items():
            api.add_space_variable(space_id, key, value)
        stale = [name for name in api.list_repo_files(space_id, repo_type="space")
                 if name not in files and name not in KEEP_IN_SPACE]
        operations = [CommitOperationAdd(path, data) for path, data in sorted(files.items())]
        operations += [CommitOperationDelete(path) for path in stale]
        # one commit, so the Space never builds a half-updated app
        api.create_commit(space_id, operations, repo_type="space", commit_message=f"Serve {model_id} at {commit}")
    except Exception as error:  # whatever failed, the same command finishes the deployment
        raise SpaceError(
            f"Deploying the Space {space_id} failed ({type(error).__name__}: {_first_line(error)}); "
            "running the same command again finishes it."
        ) from error
    return f"https://huggingface.co/spaces/{space_id}"

