"""Where fine-tuning starts: another task's fine-tuned model, a backbone directory, or nothing."""

from __future__ import annotations

import os

import keras

from kerasft.backbone import BackboneConfig, build_backbone, load_backbone
from kerasft.task import load_model
from kerasft.tokenizers import TextPreprocessor, train_wordpiece_vocabulary


def load_init_model(
    path: str, *, sequence_length: int | None = None
) -> tuple[keras.Model, keras.layers.Layer]:
    """The backbone and tokenizer of a fine-tuned model (intermediate fine-tuning).

    Args:
        path: a `.keras` task model, or a run directory holding `model.keras`.
        sequence_length: optional new maximum tokens per text (at most the
            backbone's `max_sequence_length`).

    Returns:
        `(backbone, preprocessor)`, the backbone fully trainable.

    Example:
    >>> backbone, pre = load_init_model("runs/nli")  # doctest: +SKIP
    """
    file = path if path.endswith(".keras") else os.path.join(path, "model.keras")
    if not os.path.isfile(file):
        raise ValueError(
            f"`init_model` must be a fine-tuned `.keras` model or a run directory "
            f"holding `model.keras`. Received: init_model={path!r} (no file "
            f"{file!r}). Pass the output directory of an earlier kerasft-finetune run."
        )
    source = load_model(file, compile=False)
    backbone, preprocessor = source.backbone, source.preprocessor
    if preprocessor is None:
        raise ValueError(
            f"`init_model` {file!r} has no preprocessor, so its vocabulary is "
            "unknown. Save it as `TaskModel(backbone, heads, preprocessor)`."
        )
    # A linear-probed source may have been saved with a frozen backbone.
    backbone.trainable = False
    backbone.trainable = True
    if sequence_length and sequence_length != preprocessor.sequence_length:
        limit = backbone.max_sequence_length
        if sequence_length > limit:
            raise ValueError(
                f"`sequence_length` must be at most the backbone's "
                f"max_sequence_length {limit}. Received: "
                f"sequence_length={sequence_length}."
            )
        # From its own config, so a SentencePiece model stays SentencePiece
        # (rebuilding a WordPiece layer from its pieces gave other token ids).
        preprocessor = type(preprocessor).from_config(
            {**preprocessor.get_config(), "sequence_length": sequence_length}
        )
    return backbone, preprocessor


def build_preprocessor_and_backbone(config, train_texts) -> tuple[keras.Model, keras.layers.Layer]:
    """Load the configured backbone (or `init_model`'s), or make a new one.

    Args:
        config: a `FinetuneConfig` (its `init_model`, `backbone`, vocabulary
            and size fields).
        train_texts: the train texts a new vocabulary is learned from.
    """
    if config.init_model:
        return load_init_model(config.init_model, sequence_length=config.sequence_length)
    if config.backbone:
        return load_backbone(config.backbone, sequence_length=config.sequence_length)
    vocab = train_wordpiece_vocabulary(
        train_texts, config.vocabulary_size, lowercase=config.lowercase
    )
    preprocessor = TextPreprocessor(
        vocab, sequence_length=config.sequence_length, lowercase=config.lowercase
    )
    backbone = build_backbone(
        BackboneConfig(
            vocabulary_size=len(vocab),
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            hidden_dim=config.hidden_dim,
            intermediate_dim=config.intermediate_dim,
            max_sequence_length=config.sequence_length,
        )
    )
    return backbone, preprocessor
