"""A TF Serving `fill_mask` signature for a pretrained backbone and its MLM head.

Text with one or more literal `[MASK]` markers goes in; for every marker the
top-k tokens and their probabilities come out, dense and batch-major (TF
Serving cannot serve ragged outputs): `token_ids` int32 `[B, M, k]`,
`tokens` string `[B, M, k]`, `scores` float32 `[B, M, k]` and `num_masks`
int32 `[B]`, where `M` is the most markers in any text of the batch (at
least 1); slots past a text's `num_masks` hold id -1, token "" and score 0.

The text is split on the literal `[MASK]` and each part tokenized by the
backbone's own preprocessing layer (so a WordPiece tokenizer never sees the
marker, which it would split into `[`, `mask`, `]`); the `[MASK]` id is put
between the parts. Only TF core and covered tf.text ops are used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from kerasft.backbone import load_backbone
from kerasft.export.publish import TEXT_SPEC, publish_archive, text_archive
from kerasft.pretraining.mlm import (
    MASKED_LM_HEAD_WEIGHTS,
    load_masked_lm_head,
    make_masked_lm,
)
from kerasft.tokenizers import MASK

SIGNATURE = "fill_mask"
DEFAULT_WARMUP_TEXTS = (
    f"a gripping , beautifully acted {MASK} .",
    f"{MASK} rejects German call to {MASK} British lamb .",
    "no marker here",
)


def mask_aware_pieces(preprocessor, text: tf.Tensor) -> tf.RaggedTensor:
    """Tokenize `[batch]` text, turning each literal `[MASK]` into its id.

    Args:
        preprocessor: a `TextPreprocessor` or `SentencePiecePreprocessor`.
        text: a string batch `[batch]`.

    Returns:
        int64 ragged pieces `[batch, (pieces)]`, ready for `preprocessor.pack`.

    Example:
    >>> mask_aware_pieces(pre, tf.constant(["a [MASK] film"]))  # doctest: +SKIP
    """
    parts = tf.strings.split(tf.convert_to_tensor(text), sep=MASK)
    pieces = tf.cast(preprocessor.tokenize(parts.flat_values), tf.int64)
    marker = tf.fill(
        tf.stack([pieces.nrows(), 1]),
        tf.constant(preprocessor.mask_token_id, tf.int64),
    )
    # Every part is followed by [MASK]; the one after each text's last part
    # is then dropped.
    with_marker = tf.concat([pieces, tf.RaggedTensor.from_tensor(marker)], 1)
    per_text = tf.RaggedTensor.from_row_splits(
        with_marker, tf.cast(parts.row_splits, with_marker.row_splits.dtype)
    ).merge_dims(1, 2)
    return per_text[:, :-1]


def make_fill_mask_fn(masked_lm: keras.Model, preprocessor, top_k: int = 5):
    """The `fill_mask(text)` function: strings in, dense top-k per `[MASK]` out.

    Args:
        masked_lm: a `keras_hub.models.BertMaskedLM` (backbone + MLM head).
        preprocessor: the backbone's own preprocessing layer.
        top_k: how many candidates to return per marker.

    Example:
    >>> fn = make_fill_mask_fn(masked_lm, pre, top_k=3)  # doctest: +SKIP
    >>> fn(tf.constant(["a [MASK] film"]))["tokens"]  # doctest: +SKIP
    """
    if not isinstance(top_k, int) or not 1 <= top_k <= preprocessor.vocabulary_size:
        raise ValueError(
            "`top_k` must be an int in [1, vocabulary_size] "
            f"({preprocessor.vocabulary_size}). Received: top_k={top_k!r}."
        )
    backbone = masked_lm.backbone
    head = masked_lm.masked_lm_head
    vocabulary = tf.constant(preprocessor.vocabulary)
    mask_id = preprocessor.mask_token_id

    def fill_mask(text):
        features = preprocessor.pack(mask_aware_pieces(preprocessor, text))
        is_mask = tf.logical_and(
            tf.equal(features["token_ids"], mask_id), features["padding_mask"]
        )
        num_masks = tf.reduce_sum(tf.cast(is_mask, tf.int32), axis=1)
        width = tf.maximum(tf.reduce_max(tf.concat([num_masks, [1]], 0)), 1)
        columns = tf.where(is_mask)
        positions = tf.RaggedTensor.from_value_rowids(
            tf.cast(columns[:, 1], tf.int32),
            columns[:, 0],
            nrows=tf.shape(is_mask, out_type=tf.int64)[0],
        ).to_tensor(0, shape=tf.stack([tf.shape(is_mask)[0], width]))
        sequence = backbone(features)["sequence_output"]
        logits = head(sequence, mask_positions=positions)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        scores, ids = tf.math.top_k(probabilities, k=top_k)
        valid = tf.sequence_mask(num_masks, width)[:, :, tf.newaxis]
        valid = tf.broadcast_to(valid, tf.shape(ids))
        return {
            "token_ids": tf.where(valid, ids, -1),
            "tokens": tf.where(valid, tf.gather(vocabulary, ids), ""),
            "scores": tf.where(valid, scores, 0.0),
            "num_masks": num_masks,
        }

    return fill_mask


def build_fill_mask_archive(
    masked_lm: keras.Model, preprocessor, top_k: int = 5
) -> keras.export.ExportArchive:
    """An `ExportArchive` whose `fill_mask` endpoint is also `serving_default`.

    Args:
        masked_lm: a `keras_hub.models.BertMaskedLM`.
        preprocessor: the backbone's own preprocessing layer.
        top_k: candidates per marker.

    Example:
    >>> build_fill_mask_archive(masked_lm, pre).write_out("/tmp/fm")  # doctest: +SKIP
    """
    archive = text_archive(preprocessor)
    archive.add_endpoint(
        SIGNATURE,
        make_fill_mask_fn(masked_lm, preprocessor, top_k),
        input_signature=[TEXT_SPEC],
    )
    return archive


def load_masked_lm(run_dir: str | os.PathLike):
    """`(masked_lm, preprocessor)` from a `kerasft-pretrain` run directory.

    Args:
        run_dir: a pretraining run directory (`backbone/` and
            `masked_lm_head.npz`).

    Example:
    >>> masked_lm, pre = load_masked_lm("runs/demo/pretrain")  # doctest: +SKIP
    """
    run_dir = os.fspath(run_dir)
    head_path = os.path.join(run_dir, MASKED_LM_HEAD_WEIGHTS)
    backbone_dir = os.path.join(run_dir, "backbone")
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(head_path) and os.path.isfile(config_path):
        with open(config_path) as f:
            objective = json.load(f).get("train", {}).get("objective", "mlm")
        if objective != "mlm":
            raise ValueError(
                f"{run_dir} was pretrained with --objective={objective}: its "
                "backbone is ELECTRA's discriminator, which has no masked-LM "
                "head to fill masks with. Export `fill_mask` from an "
                "--objective=mlm run."
            )
    if not os.path.isfile(head_path) or not os.path.isdir(backbone_dir):
        raise ValueError(
            "`run_dir` must be a `kerasft-pretrain` output directory with "
            f"`backbone/` and `{MASKED_LM_HEAD_WEIGHTS}`. Received: "
            f"run_dir={run_dir!r}. Pass --output_dir of a finished pretraining "
            "run (a bare backbone has no trained masked-LM head)."
        )
    backbone, preprocessor = load_backbone(backbone_dir)
    masked_lm = make_masked_lm(backbone)
    load_masked_lm_head(masked_lm, head_path)
    return masked_lm, preprocessor


def export_fill_mask(
    run_dir: str | os.PathLike,
    export_root: str | os.PathLike,
    name: str = "fill_mask",
    *,
    version: int | None = None,
    top_k: int = 5,
    warmup_texts: Sequence[str] = DEFAULT_WARMUP_TEXTS,
    verify: bool = True,
) -> Path:
    """Export a pretraining run as `export_root/name/VERSION/` for TF Serving.

    Args:
        run_dir: a `kerasft-pretrain` output directory.
        export_root: the TF Serving model base directory (`saved_models`).
        name: the TF Serving model name.
        version: the version number; defaults to the next free one.
        top_k: candidates per `[MASK]`.
        warmup_texts: sample inputs written as warmup requests.
        verify: check the export in a fresh TF-only process first; a failure
            publishes nothing.

    Returns:
        The published version directory.

    Example:
    >>> export_fill_mask("runs/demo/pretrain", "saved_models")  # doctest: +SKIP
    """
    masked_lm, preprocessor = load_masked_lm(run_dir)
    path, _ = publish_archive(
        export_root,
        name,
        lambda: (
            build_fill_mask_archive(masked_lm, preprocessor, top_k),
            preprocessor.vocabulary,
        ),
        signatures=(SIGNATURE, "serving_default"),
        warmup_texts=warmup_texts,
        verify=verify,
        version=version,
    )
    logging.info("Exported fill_mask to %s", path)
    return path
