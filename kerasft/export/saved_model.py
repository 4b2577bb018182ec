"""Export a `TaskModel` as a versioned SavedModel that TF Serving loads as is.

One SavedModel holds the backbone once and one signature per head (the first
head is also `serving_default`), plus `tokenize` (the exact token ids the
model sees, for debugging train/serve skew). Every signature takes `text`,
a `DT_STRING` batch of shape `(-1)`, and returns dense, batch-major tensors.
Tokenization runs in the graph through the model's own `TextPreprocessor`,
so only TF core and covered tf.text ops appear; each export is verified in a
fresh process (`kerasft.export.verify`) before its version directory is
renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from kerasft.export.publish import TEXT_SPEC, publish_archive, text_archive
from kerasft.task import TaskModel

DEFAULT_WARMUP_TEXTS = (
    "a gripping , beautifully acted film .",
    "EU rejects German call to boycott British lamb .",
    "",
)


def build_export_archive(model: TaskModel) -> keras.export.ExportArchive:
    """An `ExportArchive` with one endpoint per head plus `tokenize`.

    Args:
        model: a `TaskModel` with a `preprocessor`.
    """
    if model.preprocessor is None:
        raise ValueError(
            "Only models with a `preprocessor` can be exported (the SavedModel "
            "takes raw text). Build `TaskModel(backbone, heads, preprocessor)`."
        )
    archive = text_archive(model.preprocessor)
    for head in model.heads:
        archive.add_endpoint(head.name, _head_endpoint(model, head.name),
                             input_signature=[TEXT_SPEC])

    def tokenize(text):
        features = model.preprocessor(text)
        return {
            "token_ids": features["token_ids"],
            "padding_mask": tf.cast(features["padding_mask"], tf.int32),
            "num_tokens": tf.reduce_sum(
                tf.cast(features["padding_mask"], tf.int32), axis=-1
            ),
        }

    archive.add_endpoint("tokenize", tokenize, input_signature=[TEXT_SPEC])
    return archive


def _head_endpoint(model: TaskModel, name: str):
    # A closure per head: the traced function's only parameter is `text`.
    def serve(text):
        return model.serve(text, heads=[name])[name]  # float32 outputs in any precision

    return serve


def export_model(
    model: TaskModel,
    export_root: str | os.PathLike,
    name: str,
    *,
    version: int | None = None,
    keep: int | None = None,
    warmup_texts: Sequence[str] = DEFAULT_WARMUP_TEXTS,
    verify: bool = True,
    base_path_prefix: str | None = None,
) -> Path:
    """Write `export_root/name/VERSION/` atomically and update `models.config`.

    Args:
        model: the `TaskModel` to export.
        export_root: the TF Serving model base directory (`saved_models`).
        name: the model name (TF Serving's `MODEL_NAME`).
        version: the version number; defaults to the next free one.
        keep: keep only the newest `keep` versions afterwards.
        warmup_texts: sample inputs written as TF Serving warmup requests for
            every signature.
        verify: load and replay the export in a fresh TF-only process before
            publishing it; a failure publishes nothing.
        base_path_prefix: `base_path` prefix in `models.config` (e.g.
            `/models` when `export_root` is mounted there in docker).

    Returns:
        The published version directory.

    Example:
    >>> export_model(model, "saved_models", "sentiment")  # doctest: +SKIP
    """
    if not warmup_texts:
        raise ValueError("`warmup_texts` must hold at least one sample text.")
    path, report = publish_archive(
        export_root,
        name,
        lambda: (build_export_archive(model), model.preprocessor.vocabulary),
        signatures=[h.name for h in model.heads] + ["serving_default", "tokenize"],
        warmup_texts=warmup_texts,
        verify=verify,
        version=version,
        keep=keep,
        base_path_prefix=base_path_prefix,
    )
    if report is not None:
        logging.info("Export verified: %s", _summary(report))
    logging.info("Exported %s", path)
    return path


def _summary(report: dict) -> str:
    ops = report.get("ops") or report.get("op_types") or []
    return f"{len(ops)} op types, signatures {sorted(report.get('signatures', {}))}"
