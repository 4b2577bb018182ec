"""Publish an export: archive -> hidden directory -> checks -> `NAME/VERSION/`.

Every SavedModel kerasft writes for TF Serving (a `TaskModel`'s heads,
`fill_mask`) is published by `publish_archive`, the one place that writes
the archive into a hidden temporary directory beside the versions, adds the
vocabulary asset and the warmup requests, verifies it in a fresh TF-only
process, renames it into place (`versioning.write_version`) and rewrites
`models.config`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import tensorflow as tf

from kerasft.export.verify import verify_saved_model
from kerasft.export.versioning import write_models_config, write_version
from kerasft.export.warmup import write_warmup_requests
from kerasft.tokenizers import save_vocabulary

# The one input of every signature kerasft publishes: a batch of raw texts.
TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")


def text_archive(preprocessor) -> keras.export.ExportArchive:
    """An empty `ExportArchive` that carries `preprocessor`'s vocabulary resource.

    Args:
        preprocessor: a `TextPreprocessor` or `SentencePiecePreprocessor`.

    Example:
    >>> archive = text_archive(model.preprocessor)  # doctest: +SKIP
    >>> archive.add_endpoint("tokenize", fn, [TEXT_SPEC])  # doctest: +SKIP
    """
    archive = keras.export.ExportArchive()
    # Endpoint variables are tracked automatically; tracking the model too
    # would store every weight a second time (as Keras variables beside the
    # captured TF ones).
    archive.track(preprocessor.lookup_table)
    return archive


def publish_archive(
    export_root: str | os.PathLike,
    name: str,
    build: Callable[[], tuple[keras.export.ExportArchive, Sequence[str]]],
    *,
    signatures: Sequence[str],
    warmup_texts: Sequence[str],
    verify: bool = True,
    version: int | None = None,
    keep: int | None = None,
    base_path_prefix: str | None = None,
) -> tuple[Path, dict | None]:
    """Write `export_root/name/VERSION/` atomically, then update `models.config`.

    A failure anywhere before the rename (building, writing, verifying, or a
    `KeyboardInterrupt`) publishes nothing and leaves the existing versions
    as they were.

    Args:
        export_root: the TF Serving model base directory (`saved_models`).
        name: the model name (TF Serving's `MODEL_NAME`).
        build: returns `(archive, vocabulary)`; called only once the name
            and version are validated, so bad arguments fail fast. The
            vocabulary is copied to `assets/vocab.txt`.
        signatures: the signatures to write warmup requests for.
        warmup_texts: the sample batch every warmup request sends.
        verify: load and replay the export in a fresh TF-only process before
            publishing it.
        version: the version number; defaults to the next free one.
        keep: keep only the newest `keep` versions afterwards.
        base_path_prefix: `base_path` prefix in `models.config` (e.g.
            `/models` when `export_root` is mounted there in docker).

    Returns:
        `(version_dir, report)`: the published version directory, and the
        verifier's summary (`None` when `verify=False`).

    Example:
    >>> path, report = publish_archive(
    ...     "saved_models", "fill_mask", lambda: (archive, pre.vocabulary),
    ...     signatures=["fill_mask"], warmup_texts=["a [MASK] film"],
    ... )  # doctest: +SKIP
    """
    reports = []

    def write(tmp_dir: Path) -> None:
        archive, vocabulary = build()
        archive.write_out(os.fspath(tmp_dir), verbose=False)
        # The graph's lookup table is self-contained; this copy is for people
        # and tools inspecting the export (loaders ignore unreferenced assets).
        os.makedirs(os.path.join(tmp_dir, "assets"), exist_ok=True)
        save_vocabulary(vocabulary, os.path.join(tmp_dir, "assets", "vocab.txt"))
        write_warmup_requests(
            tmp_dir, {sig: [list(warmup_texts)] for sig in signatures}
        )
        if verify:
            reports.append(verify_saved_model(tmp_dir))

    path = write_version(export_root, name, write, version=version, keep=keep)
    write_models_config(export_root, base_path_prefix=base_path_prefix)
    return path, (reports[0] if reports else None)
