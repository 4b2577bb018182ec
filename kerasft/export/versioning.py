"""Numbered SavedModel versions under an export root, as TF Serving reads them.

Layout: `EXPORT_ROOT/NAME/N/` with `N` a positive integer. TF Serving loads
any new numeric directory as soon as it appears, so a version is written into
a hidden sibling directory and renamed into place only once complete.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from absl import logging

from kerasft.atomic_files import pid_alive

MODELS_CONFIG_FILENAME = "models.config"

_NUMERIC = re.compile(r"[0-9]+")
_TMP_PREFIX = ".tmp-"


def _host() -> str:
    # A pid means something only on its own host (export roots can be shared).
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "host"


def _temporary_path(parent: Path, stem: object) -> Path:
    """A fresh hidden name in `parent`, which TF Serving and `list_versions` skip.

    The host, pid and random suffix keep concurrent writers apart and tell
    `remove_stale_temporaries` whose entry it is.
    """
    return parent / (
        f"{_TMP_PREFIX}{stem}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
    )


_TMP_NAME = re.compile(r"\.tmp-[^-]+-(?P<host>[A-Za-z0-9_]+)-(?P<pid>[0-9]+)-[0-9a-f]+")


def remove_stale_temporaries(model_dir: str | os.PathLike) -> list[str]:
    """Remove `.tmp-*` entries of killed writers on this host; keep live ones.

    A writer killed with SIGKILL (or a lost machine) cannot clean up after
    itself. An entry is stale when it names this host and a pid that no
    longer runs; entries of other hosts, of live pids and names this module
    did not make are left alone.

    Args:
        model_dir: `EXPORT_ROOT/NAME` (or `EXPORT_ROOT`, for `models.config`).

    Returns:
        The names removed.

    Example:
    >>> remove_stale_temporaries("saved_models/sentiment")  # doctest: +SKIP
    ['.tmp-4-myhost-81234-0f3a9c1e']
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    removed = []
    for entry in sorted(model_dir.iterdir()):
        match = _TMP_NAME.fullmatch(entry.name)
        if not match or match["host"] != _host() or pid_alive(int(match["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def _check_model_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"`name` must be a string. Received: name={name!r} "
            f"of type {type(name).__name__}."
        )
    if (
        not name
        or name.startswith(".")
        or "/" in name
        or os.sep in name
        or _NUMERIC.fullmatch(name)
    ):
        raise ValueError(
            "`name` must be a plain directory name (no path separators, not "
            "starting with '.', not all digits), since it becomes the TF "
            f"Serving model name. Received: name={name!r}. Use e.g. "
            "name='sentiment'."
        )
    return name


def _check_positive_int(value: object, arg: str, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"`{arg}` must be a positive integer. Received: {arg}={value!r} "
            f"of type {type(value).__name__}. {hint}"
        )
    if value < 1:
        raise ValueError(
            f"`{arg}` must be a positive integer. Received: {arg}={value}. "
            f"{hint}"
        )
    return value


def list_versions(model_dir: str | os.PathLike) -> list[int]:
    """List the numeric version directories of one model, ascending.

    Hidden temporary directories and anything non-numeric are ignored, as
    TF Serving ignores them.

    Args:
        model_dir: the model base path, e.g. `saved_models/sentiment`. A
            missing directory has no versions.

    Example:
    >>> list_versions("saved_models/sentiment")  # doctest: +SKIP
    [1, 2, 3]
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    versions = {
        int(child.name)
        for child in model_dir.iterdir()
        if _NUMERIC.fullmatch(child.name) and child.is_dir()
    }
    return sorted(v for v in versions if v > 0)


def latest_version(model_dir: str | os.PathLike) -> int | None:
    """Return the highest version (the one TF Serving serves), or `None`.

    Args:
        model_dir: the model base path, e.g. `saved_models/sentiment`.

    Example:
    >>> latest_version("saved_models/sentiment")  # doctest: +SKIP
    3
    """
    versions = list_versions(model_dir)
    return versions[-1] if versions else None


def next_version(model_dir: str | os.PathLike) -> int:
    """Return the version number a new export should get (highest + 1).

    Args:
        model_dir: the model base path, e.g. `saved_models/sentiment`.

    Example:
    >>> next_version("saved_models/new_model")  # doctest: +SKIP
    1
    """
    return (latest_version(model_dir) or 0) + 1


def prune_versions(model_dir: str | os.PathLike, keep: int) -> list[int]:
    """Delete all but the `keep` highest versions of a model.

    Args:
        model_dir: the model base path, e.g. `saved_models/sentiment`.
        keep: how many of the newest versions to keep (at least 1).

    Returns:
        The deleted version numbers.

    Example:
    >>> prune_versions("saved_models/sentiment", keep=2)  # doctest: +SKIP
    [1]
    """
    keep = _check_positive_int(keep, "keep", "Pass e.g. keep=3.")
    model_dir = Path(model_dir)
    doomed = list_versions(model_dir)[:-keep]
    for version in doomed:
        # A directory named "01" is version 1 too.
        for child in model_dir.iterdir():
            if _NUMERIC.fullmatch(child.name) and int(child.name) == version:
                # Renamed first: TF Serving must never see a half-deleted
                # version; a kill mid-delete leaves a stale temporary.
                doomed_path = _temporary_path(model_dir, child.name)
                os.replace(child, doomed_path)
                shutil.rmtree(doomed_path)
    return doomed


def write_version(
    export_root: str | os.PathLike,
    name: str,
    write_fn: Callable[[Path], object],
    *,
    version: int | None = None,
    keep: int | None = None,
) -> Path:
    """Write a new SavedModel version so that TF Serving never sees it half-done.

    `write_fn(tmp_dir)` writes the SavedModel into an empty temporary
    directory next to the version directories (a hidden, non-numeric name
    that TF Serving ignores). Only when it returns, and `saved_model.pb` is
    there, is the directory renamed to `NAME/N` in one atomic step. If
    anything fails, including `KeyboardInterrupt`, the temporary directory is
    removed and the existing versions are left untouched.

    Args:
        export_root: the directory holding one subdirectory per model, e.g.
            `saved_models`.
        name: the model name (the TF Serving `MODEL_NAME`).
        write_fn: called with the temporary directory as a `pathlib.Path`;
            must write a complete SavedModel there, e.g.
            `lambda d: archive.write_out(str(d))`.
        version: the version number; defaults to the highest existing
            version + 1. Must not exist yet.
        keep: if set, keep only this many of the newest versions after a
            successful write.

    Returns:
        The path of the new version directory.

    Example:
    >>> path = write_version(
    ...     "saved_models", "sentiment",
    ...     lambda d: tf.saved_model.save(module, str(d)),
    ...     keep=3,
    ... )  # doctest: +SKIP
    """
    name = _check_model_name(name)
    if not callable(write_fn):
        raise TypeError(
            "`write_fn` must be a callable taking the temporary directory. "
            f"Received: write_fn={write_fn!r}. Pass e.g. "
            "`lambda d: archive.write_out(str(d))`."
        )
    if keep is not None:
        _check_positive_int(keep, "keep", "Pass e.g. keep=3, or None to keep all.")
    model_dir = Path(export_root) / name
    if version is None:
        version = next_version(model_dir)
    else:
        _check_positive_int(
            version, "version", "Pass e.g. version=1, or None for the next one."
        )
        if version in list_versions(model_dir):
            raise ValueError(
                f"Version {version} of model {name!r} already exists in "
                f"{model_dir}. Received: version={version}. Pass a new version "
                f"number (next free: {next_version(model_dir)}) or "
                "version=None."
            )
    model_dir.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_temporaries(model_dir):
        logging.info("Removed %s, left in %s by a killed export.", stale, model_dir)
    final_dir = model_dir / str(version)
    tmp_dir = _temporary_path(model_dir, version)
    tmp_dir.mkdir()
    try:
        write_fn(tmp_dir)
        if not (tmp_dir / "saved_model.pb").is_file():
            raise ValueError(
                f"`write_fn` returned without writing `saved_model.pb` into the "
                f"directory it was given. Received: write_fn={write_fn!r}. It "
                "must write the SavedModel into its argument, e.g. "
                "`lambda d: archive.write_out(str(d))`."
            )
        if final_dir.exists():
            raise ValueError(
                f"Version directory {final_dir} appeared while writing (another "
                "export running at the same time?). Retry, or pass an unused "
                "`version`."
            )
        os.rename(tmp_dir, final_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    if keep is not None:
        prune_versions(model_dir, keep)
    return final_dir


def write_models_config(
    export_root: str | os.PathLike,
    *,
    base_path_prefix: str | None = None,
) -> Path:
    """Write `EXPORT_ROOT/models.config` listing every exported model.

    The file is a TF Serving `ModelServerConfig` in protobuf text format, for
    `tensorflow_model_server --model_config_file=...`. Every subdirectory of
    `export_root` with at least one numeric version becomes one
    `config { name base_path model_platform }` entry. The file is replaced
    atomically, so a server polling it never reads half of it.

    Args:
        export_root: the directory holding one subdirectory per model.
        base_path_prefix: where the server sees `export_root`. `None` writes
            absolute local paths; `"/models"` suits the docker image run with
            `-v $PWD/saved_models:/models`.

    Returns:
        The path of `models.config`.

    Example:
    >>> write_models_config("saved_models", base_path_prefix="/models")  # doctest: +SKIP
    PosixPath('saved_models/models.config')
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    export_root = Path(export_root)
    if not export_root.is_dir():
        raise ValueError(
            "`export_root` must be an existing directory of exported models. "
            f"Received: export_root={str(export_root)!r}. Export a model first."
        )
    if base_path_prefix is not None and not isinstance(base_path_prefix, str):
        raise TypeError(
            "`base_path_prefix` must be a string or None. Received: "
            f"base_path_prefix={base_path_prefix!r}. Pass e.g. '/models'."
        )
    config = model_server_config_pb2.ModelServerConfig()
    for model_dir in sorted(export_root.iterdir()):
        if model_dir.name.startswith(".") or not list_versions(model_dir):
            continue
        if base_path_prefix is None:
            base_path = str(model_dir.resolve())
        else:
            base_path = f"{base_path_prefix.rstrip('/')}/{model_dir.name}"
        entry = config.model_config_list.config.add()
        entry.name = model_dir.name
        entry.base_path = base_path
        entry.model_platform = "tensorflow"
    if not config.model_config_list.config:
        raise ValueError(
            f"No exported model found under {export_root}: expected "
            "subdirectories like `NAME/1/saved_model.pb`. Received: "
            f"export_root={str(export_root)!r}. Export a model first."
        )
    path = export_root / MODELS_CONFIG_FILENAME
    remove_stale_temporaries(export_root)  # an earlier writer killed mid-write
    tmp_path = _temporary_path(export_root, MODELS_CONFIG_FILENAME)
    try:
        tmp_path.write_text(text_format.MessageToString(config), encoding="utf-8")
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path
