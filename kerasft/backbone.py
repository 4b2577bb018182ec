"""The shared BERT backbone: its size fields, a flat config, building, and directories.

A backbone directory is a keras-hub preset (`config.json`,
`model.weights.h5`, `metadata.json`, `tokenizer.json` and
`assets/tokenizer/vocabulary.txt`, or `vocabulary.spm` for a SentencePiece
tokenizer), so `keras_hub.models.BertBackbone.from_preset(dir)` and
`keras_hub.tokenizers.Tokenizer.from_preset(dir)` load it as well as kerasft
does; kerasft adds `preprocessor.json` (tokenizer kind, sequence length,
lowercasing) so that nothing about tokenization is guessed later.

Every config that makes a new backbone (pretraining, fine-tuning, the
experiment) inherits `BackboneSize`, so its fields are declared once; the
binaries' flags come from config fields declared with `option`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import typing
from collections.abc import Callable, Mapping
from typing import Any

import keras
import keras_hub

from kerasft import atomic_files, compat
from kerasft.precision import current_precision
from kerasft.tokenizers import SentencePiecePreprocessor, TextPreprocessor

PREPROCESSOR_CONFIG = "preprocessor.json"
SENTENCEPIECE_ASSET = os.path.join("assets", "tokenizer", "vocabulary.spm")
Preprocessor = TextPreprocessor | SentencePiecePreprocessor


def option(default: Any, help: str, **metadata: Any) -> Any:
    """A config field that is also a command-line flag, with its help text.

    `kerasft.cli.app.define_dataclass_flags` makes one flag of every field
    declared with it (the field's default is the flag's); plain fields stay
    Python-only.

    Args:
        default: the field's default (a tuple for a sequence field). A None
            default on an `X | None` field is a flag whose 0 or empty value
            means None.
        help: the flag's help text.
        **metadata: `flag` (the flag's name when it is not the field's),
            `choices` (an enum flag; `check_choices` checks Python values
            too) or `repeat` (a sequence flag given once a value instead of
            comma-separated).

    Example:
    >>> @dataclasses.dataclass
    ... class Budget:
    ...     steps: int = option(1000, "Optimizer steps.")
    """
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def override_fields(
    *, helps: Mapping[str, str] | None = None, defaults: Mapping[str, Any] | None = None
) -> Callable[[type], type]:
    """Class decorator under `@dataclass`: new help or defaults for inherited fields.

    The field stays the base class's (type, place, other metadata), so a
    subclass states only how it differs instead of declaring the field again.

    Args:
        helps: a field name to the flag help the subclass's binary shows.
        defaults: a field name to the subclass's default.

    Example:
    >>> @dataclasses.dataclass
    ... @override_fields(helps={"num_layers": "Layers of a big backbone."},
    ...                  defaults={"num_layers": 6})
    ... class BigBackboneSize(BackboneSize):
    ...     pass
    >>> BigBackboneSize().num_layers
    6
    """
    helps, defaults = dict(helps or {}), dict(defaults or {})

    def apply(cls: type) -> type:
        inherited = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(helps).union(defaults) - set(inherited))
        if unknown:
            raise TypeError(
                f"`override_fields` takes fields that {cls.__name__} inherits. "
                f"Received: {unknown}."
            )
        types = typing.get_type_hints(cls)  # resolved where each field was declared
        annotations = dict(cls.__dict__.get("__annotations__", {}))
        for name in {**helps, **defaults}:
            base = inherited[name]
            metadata = {**base.metadata, **({"help": helps[name]} if name in helps else {})}
            # Annotated in the subclass, so `dataclass` makes it an override
            # (it keeps the base's position in the fields and `__init__`).
            annotations[name] = types[name]
            setattr(cls, name, dataclasses.field(
                default=defaults.get(name, base.default), metadata=metadata
            ))
        cls.__annotations__ = annotations
        return cls

    return apply


def check_choices(config: Any) -> None:
    """Refuse a dataclass field value outside the `choices` its `option` names.

    Args:
        config: a dataclass instance.

    Example:
    >>> check_choices(PretrainRunConfig(tokenizer="bpe"))  # doctest: +SKIP
    ValueError: `tokenizer` must be one of ('wordpiece', 'sentencepiece'). ...
    """
    for field in dataclasses.fields(config):
        choices = field.metadata.get("choices")
        value = getattr(config, field.name)
        if choices is not None and value not in choices:
            raise ValueError(
                f"`{field.name}` must be one of {choices}. Received: "
                f"{field.name}={value!r}."
            )


@dataclasses.dataclass
class BackboneSize:
    """The size of a new BERT backbone, the fields every config making one inherits.

    `BackboneConfig` and the pretraining, fine-tuning and experiment configs
    declare these fields through this class only (the last three change at
    most their flag help, with `override_fields`).

    Args:
        vocabulary_size: number of tokens of the (new) vocabulary.
        num_layers: transformer blocks.
        num_heads: attention heads per block (must divide `hidden_dim`).
        hidden_dim: width of every token representation.
        intermediate_dim: width of the feed-forward sublayer.
    """

    vocabulary_size: int = option(8000, "WordPiece size for a from-scratch backbone.")
    num_layers: int = option(2, "Layers of a from-scratch backbone.")
    num_heads: int = option(4, "Attention heads of a from-scratch backbone.")
    hidden_dim: int = option(128, "Hidden size of a from-scratch backbone.")
    intermediate_dim: int = option(512, "Feed-forward size of a from-scratch backbone.")

    @classmethod
    def fields_of(cls, config: Any) -> dict[str, Any]:
        """This class's fields as `config` (an instance of a subclass) sets them.

        Example:
        >>> BackboneSize.fields_of(BackboneConfig(vocabulary_size=100))["vocabulary_size"]
        100
        """
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(cls)}


@dataclasses.dataclass
class BackboneConfig(BackboneSize):
    """Flat, JSON-serializable size of a `keras_hub.models.BertBackbone`.

    The defaults are a small model that pretrains and fine-tunes on two CPU
    cores in minutes; `BackboneConfig(**json.load(f))` restores a saved one.

    Args:
        vocabulary_size: number of WordPiece tokens.
        num_layers: transformer blocks.
        num_heads: attention heads per block (must divide `hidden_dim`).
        hidden_dim: width of every token representation.
        intermediate_dim: width of the feed-forward sublayer.
        dropout: dropout rate inside the backbone.
        max_sequence_length: position embeddings (longest input).

    Example:
    >>> backbone = build_backbone(BackboneConfig(vocabulary_size=100))
    """

    # Required: a built backbone takes its actual vocabulary's size (a bare
    # annotation would inherit BackboneSize's default).
    vocabulary_size: int = dataclasses.field()
    dropout: float = 0.1
    max_sequence_length: int = 128

    def __post_init__(self):
        for field in ("vocabulary_size", "num_layers", "num_heads",
                      "hidden_dim", "intermediate_dim", "max_sequence_length"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"`{field}` must be a positive int. Received: "
                    f"{field}={value!r}."
                )
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                "`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={self.hidden_dim}, num_heads={self.num_heads}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={self.dropout!r}."
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def build_backbone(config: BackboneConfig) -> keras_hub.models.BertBackbone:
    """A randomly initialized `BertBackbone` of the given size."""
    return keras_hub.models.BertBackbone(**config.to_dict())


def backbone_config(backbone: keras_hub.models.BertBackbone) -> BackboneConfig:
    """The flat size config of an existing backbone."""
    fields = {f.name for f in dataclasses.fields(BackboneConfig)}
    return BackboneConfig(
        **{k: v for k, v in backbone.get_config().items() if k in fields}
    )


def save_backbone(
    backbone: keras_hub.models.BertBackbone,
    preprocessor: Preprocessor,
    directory: str | os.PathLike,
) -> str:
    """Save backbone and tokenizer as a keras-hub preset directory.

    Written to a temporary sibling first and renamed into place, so a crash
    or a full disk never leaves a half-written backbone directory: the
    previous one (if any) stays until the new one is complete, and a failed
    write is an `ArtifactWriteError` naming the directory.

    Args:
        backbone: the backbone to save.
        preprocessor: the tokenizer it was trained with (WordPiece
            `TextPreprocessor` or `SentencePiecePreprocessor`).
        directory: the target directory (replaced if it exists).
    """
    directory = os.path.abspath(os.fspath(directory))
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    # A rename cannot replace a non-empty directory: the previous one is moved
    # aside only once the new one is complete, and moved back if that fails.
    old = atomic_files.temporary_name(directory) + "-previous"
    if os.path.exists(directory):
        shutil.rmtree(old, ignore_errors=True)  # left by a killed process with this pid
    try:
        with atomic_files.atomic_path(directory) as tmp:
            os.makedirs(tmp)
            _write_preset(backbone, preprocessor, tmp)
            if os.path.exists(directory):
                os.replace(directory, old)
    except BaseException:
        if os.path.exists(old) and not os.path.exists(directory):
            os.replace(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return directory


def _write_preset(
    backbone: keras_hub.models.BertBackbone, preprocessor: Preprocessor, tmp: str
) -> None:
    backbone.save_to_preset(tmp)
    if isinstance(preprocessor, SentencePiecePreprocessor):
        kind = "sentencepiece"
        tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(
            proto=preprocessor.proto
        )
    else:
        kind = "wordpiece"
        tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=preprocessor.vocabulary,
            lowercase=preprocessor.lowercase,
        )
    tokenizer.save_to_preset(tmp)
    atomic_files.write_json(
        os.path.join(tmp, PREPROCESSOR_CONFIG),
        {
            "tokenizer": kind,
            "sequence_length": preprocessor.sequence_length,
            "lowercase": preprocessor.lowercase,
        },
    )


def load_backbone(
    directory: str | os.PathLike, *, sequence_length: int | None = None
) -> tuple[keras_hub.models.BertBackbone, Preprocessor]:
    """Load a backbone directory (kerasft, keras-hub or Hugging Face BERT).

    Args:
        directory: a directory written by `save_backbone`, any keras-hub BERT
            preset directory, or a Hugging Face BERT checkpoint directory
            (`config.json` + `model.safetensors` + `vocab.txt`).
        sequence_length: override the saved maximum sequence length.

    Returns:
        `(backbone, preprocessor)`, the preprocessor using the directory's own
        vocabulary and casing (a `SentencePiecePreprocessor` when the
        directory holds `assets/tokenizer/vocabulary.spm`).
    """
    directory = os.path.abspath(os.fspath(directory))
    if not os.path.isdir(directory):
        raise ValueError(
            "Backbone directory not found. Received: "
            f"directory={directory!r}. Expected a directory written by "
            "`kerasft-pretrain` (or a keras-hub / Hugging Face BERT checkpoint)."
        )
    if os.path.isfile(os.path.join(directory, "metadata.json")):
        # In the current precision, not the one it was saved from (the
        # weights are float32 either way; `kerasft.precision`).
        backbone = keras_hub.models.BertBackbone.from_preset(
            directory, dtype=current_precision())
        vocab_file = os.path.join(directory, "assets", "tokenizer", "vocabulary.txt")
        lowercase = True
        settings_path = os.path.join(directory, PREPROCESSOR_CONFIG)
        settings = {}
        if os.path.isfile(settings_path):
            with open(settings_path) as f:
                settings = json.load(f)
        else:
            tok_path = os.path.join(directory, "tokenizer.json")
            if os.path.isfile(tok_path):
                with open(tok_path) as f:
                    lowercase = json.load(f)["config"].get("lowercase", True)
        lowercase = settings.get("lowercase", lowercase)
        saved_length = settings.get("sequence_length")
    elif os.path.isfile(os.path.join(directory, "config.json")):
        backbone, vocab_file, lowercase = _load_hf_bert(directory)
        saved_length = None
    else:
        raise ValueError(
            f"`{directory}` is not a backbone directory: it has neither "
            "`metadata.json` (keras-hub preset) nor `config.json` (Hugging "
            "Face). Point `--backbone` at a `kerasft-pretrain` output."
        )
    length = sequence_length or saved_length or min(
        128, backbone.max_sequence_length
    )
    if length > backbone.max_sequence_length:
        raise ValueError(
            f"`sequence_length` ({length}) exceeds the backbone's "
            f"max_sequence_length ({backbone.max_sequence_length})."
        )
    spm_file = os.path.join(directory, SENTENCEPIECE_ASSET)
    if os.path.isfile(spm_file):
        preprocessor = SentencePiecePreprocessor(spm_file, sequence_length=length)
    else:
        preprocessor = TextPreprocessor(
            vocab_file, sequence_length=length, lowercase=lowercase
        )
    return backbone, preprocessor


def _load_hf_bert(directory: str):
    """Hugging Face BERT directory via keras-hub's safetensors converter."""
    with open(os.path.join(directory, "config.json")) as f:
        hf_config = json.load(f)
    if hf_config.get("model_type") not in (None, "bert"):
        raise ValueError(
            f"Only BERT checkpoints are supported. Received: model_type="
            f"{hf_config.get('model_type')!r} in {directory}/config.json."
        )
    backbone = compat.load_hf_bert_backbone(directory)
    vocab_file = os.path.join(directory, "vocab.txt")
    lowercase = True
    tok_config = os.path.join(directory, "tokenizer_config.json")
    if os.path.isfile(tok_config):
        with open(tok_config) as f:
            lowercase = json.load(f).get("do_lower_case", True)
    return backbone, vocab_file, lowercase
