"""Atomic writes: a file or a whole folder appears complete or not at all (write, then rename).

A process killed mid-write (``kill -9`` runs no cleanup) leaves its temporary file or staging
folder beside the target. Their names carry the writer's process id (``.NAME.staging-PID-XXXX``,
``.NAME.old-PID-XXXX``, ``.NAME.PID-XXXX.tmp``), so the next write to the same target, or
:func:`remove_stale_staging`, removes those whose writer is gone and leaves a live writer's alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _leftover_pattern(target: str) -> re.Pattern:
    """The names this module gives temporary files and folders for ``target``; group 1 or 2 is
    the writer's process id (absent in names made by earlier versions)."""
    name, rand = re.escape(target), "[a-z0-9_]{8}"  # tempfile's random part
    return re.compile(rf"\.{name}\.(?:(?:staging-|old-)(?:(\d+)-)?{rand}|(?:(\d+)-)?{rand}\.tmp)")


def _writer_alive(pid: str | None) -> bool:
    if pid is None:  # an earlier version's leftover: no writer can still be waiting on it
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_staging(path: str | Path) -> list[Path]:
    """Remove what killed writers left beside ``path``; returns what was removed.

    If ``path`` itself is missing but a previous version of it was set aside (the writer died
    between the two renames that swap a folder), that version is put back instead of removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = _leftover_pattern(path.name)
    stale = []
    for entry in path.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and not _writer_alive(match.group(1) or match.group(2)):
            stale.append(entry)
    removed = []
    # newest first: when the folder itself is missing, the newest set-aside version is put back
    for leftover in sorted(stale, key=lambda p: p.lstat().st_mtime, reverse=True):
        if leftover.name.startswith(f".{path.name}.old-") and not path.exists():
            os.replace(leftover, path)
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        removed.append(leftover)
    return removed


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a model file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; on success it replaces ``path`` whole.

    If the block raises, ``path`` is left exactly as it was and the staging folder is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(path)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.staging-{os.getpid()}-"))
    os.chmod(staging, 0o755)  # mkdtemp makes 0700
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-{os.getpid()}-"))
        os.rmdir(old)
        os.replace(path, old)
    os.replace(staging, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
