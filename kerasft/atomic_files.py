"""Artifact files written whole or not at all: a temporary name, then a rename.

A process killed mid-write, or a full disk, leaves the previous file (or no
file) under the real name, never a partial one: readers of `config.json`,
`metrics.json`, `report.md`, checkpoints and models see the old complete
file or the new one. The temporary sits beside the target (same file
system, so `os.replace` is atomic) and keeps its extension, which Keras and
matplotlib read to pick a format.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

TMP_PREFIX = ".tmp-"


class ArtifactWriteError(OSError):
    """An artifact could not be written; the previous file is unchanged."""


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a temporary's writer, say).

    Example:
    >>> pid_alive(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def temporary_name(path: str) -> str:
    """The temporary beside `path` that this process writes first.

    Example:
    >>> os.path.basename(temporary_name("runs/x/model.keras")).endswith("-model.keras")
    True
    """
    directory, base = os.path.split(os.fspath(path))
    return os.path.join(directory, f"{TMP_PREFIX}{os.getpid()}-{base}")


def remove_dead_temporaries(*directories: str | os.PathLike) -> list[str]:
    """Remove the temporaries that killed processes left in `directories`.

    A process killed with SIGKILL mid-write leaves `.tmp-PID-NAME` behind
    (a checkpoint directory can be as large as the model). Entries whose
    process no longer runs on this host are removed; live writers' and
    other names are left alone. Run directories are written by one host
    (the chief), so a pid names a process of this host.

    Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, ".tmp-999999999-metrics.json"), "w")
    >>> remove_dead_temporaries(d)
    ['.tmp-999999999-metrics.json']
    """
    removed = []
    for directory in directories:
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            pid = name[len(TMP_PREFIX):].split("-", 1)[0]
            if name.startswith(TMP_PREFIX) and pid.isdigit() and not pid_alive(int(pid)):
                _remove(os.path.join(directory, name))
                removed.append(name)
    return removed


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def _explain(path: str, error: OSError) -> ArtifactWriteError:
    reason = {
        errno.ENOSPC: "the disk is full; free some space",
        errno.EDQUOT: "the disk quota is used up; free some space",
        errno.EACCES: "permission denied; choose a directory you can write to",
        errno.EPERM: "permission denied; choose a directory you can write to",
        errno.EROFS: "the file system is read-only; choose another directory",
    }.get(error.errno, error.strerror or str(error))
    return ArtifactWriteError(
        error.errno,
        f"Could not write {path}: {reason}. Nothing was replaced: "
        f"{'the previous file is unchanged' if os.path.exists(path) else 'no file was left there'}.",
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path to write; on success it is renamed to `path`.

    On any error the temporary is removed and the file at `path` (if any)
    is left as it was; an `OSError` (full disk, no permission) comes out as
    an `ArtifactWriteError` that names the file and what to do.

    Example:
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = open(tmp, "w").write("done")
    >>> open(target).read()
    'done'
    """
    path = os.fspath(path)
    tmp = temporary_name(path)
    _remove(tmp)  # left by an earlier process that had this pid
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        if isinstance(e, (ArtifactWriteError, FileNotFoundError)):
            raise
        raise _explain(path, e) from e
    except BaseException:
        _remove(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> str:
    """Write `text` (UTF-8) to `path` atomically; return the path.

    Example:
    >>> import tempfile
    >>> p = write_text(os.path.join(tempfile.mkdtemp(), "report.md"), "# Report\\n")
    >>> open(p).read()
    '# Report\\n'
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return os.fspath(path)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, **kwargs) -> str:
    """`json.dump` of `obj` to `path` atomically (keyword args go to `json.dump`).

    Example:
    >>> import tempfile
    >>> p = write_json(os.path.join(tempfile.mkdtemp(), "metrics.json"), {"accuracy": 0.8})
    >>> json.load(open(p))
    {'accuracy': 0.8}
    """
    # Serialised first: an unserialisable value fails before anything is written.
    text = json.dumps(obj, indent=indent, **kwargs)
    return write_text(path, text)
