"""SentencePiece models with the BERT special tokens: train one, read one.

A model is its serialized `ModelProto` (bytes; `sentencepiece.model` in a
run directory, base64 text in a layer config). `SentencePiecePreprocessor`
tokenizes with it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import tensorflow as tf

from kerasft.tokenizers.special_tokens import (
    CLS,
    MASK,
    PAD,
    SEP,
    SPECIAL_TOKENS,
    UNK,
)

if TYPE_CHECKING:
    from sentencepiece.sentencepiece_model_pb2 import ModelProto


def read_sentencepiece_proto(
    proto: bytes | str | os.PathLike,
) -> tuple[bytes, ModelProto]:
    """Parse serialized SentencePiece model bytes, a file path, or base64.

    Args:
        proto: the serialized model (bytes), the path of a `.spm`/`.model`
            file, or its base64 text (as in a layer's `get_config`).

    Returns:
        `(serialized_bytes, parsed_model_proto)`.

    Example:
    >>> proto, model = read_sentencepiece_proto("sentencepiece.model")  # doctest: +SKIP
    """
    # Imported here, as in `train_sentencepiece`: only SentencePiece users
    # pay for it.
    from sentencepiece import sentencepiece_model_pb2

    if isinstance(proto, os.PathLike) or (
        isinstance(proto, str) and os.path.isfile(proto)
    ):
        with open(proto, "rb") as f:
            proto = f.read()
    elif isinstance(proto, str):
        try:
            proto = base64.b64decode(proto.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ValueError(
                "`proto` must be serialized SentencePiece model bytes, the path "
                "of a `.spm`/`.model` file, or their base64 text. Received a "
                f"string that is neither a file nor base64: {proto[:80]!r}."
            ) from None
    if not isinstance(proto, (bytes, bytearray)):
        raise TypeError(
            "`proto` must be bytes, a file path or base64 text. Received: "
            f"proto of type {type(proto).__name__}."
        )
    model = sentencepiece_model_pb2.ModelProto()
    try:
        model.ParseFromString(bytes(proto))
    except Exception:  # protobuf raises its own DecodeError type
        model.Clear()
    if not model.pieces:
        raise ValueError(
            "`proto` is not a SentencePiece model (no pieces parsed). Train "
            "one with `kerasft.tokenizers.train_sentencepiece`."
        )
    return bytes(proto), model


def train_sentencepiece(
    texts: tf.data.Dataset | Iterable[str],
    vocabulary_size: int,
    *,
    lowercase: bool = True,
    model_type: str = "unigram",
) -> bytes:
    """Train a SentencePiece model with BERT special tokens, via keras-hub.

    keras-hub's `compute_sentence_piece_proto` reserves ids 0-3 for pad, unk,
    bos and eos; they are renamed `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and a
    user-defined `[MASK]` piece (id `vocabulary_size - 1`) is appended, so
    `[MASK]` written in text is one token (as `fill_mask` needs).

    Args:
        texts: a `tf.data.Dataset` of scalar strings, or an iterable of str.
        vocabulary_size: the vocabulary size, special tokens included.
        lowercase: case-fold inside the model's own normalizer
            (`nmt_nfkc_cf`), so serving needs no extra op.
        model_type: `"unigram"` or `"bpe"`.

    Returns:
        The serialized model proto (for `SentencePiecePreprocessor`).

    Example:
    >>> texts = ["the film is good", "a great movie", "it was fun", "the plot is dull"] * 20
    >>> proto = train_sentencepiece(texts + ["an awful movie"] * 20, 30)
    >>> len(proto) > 0
    True
    """
    import keras_hub  # Imported here: only training needs it.

    if not isinstance(vocabulary_size, int) or vocabulary_size <= len(
        SPECIAL_TOKENS
    ):
        raise ValueError(
            "`vocabulary_size` must be an int larger than the number of "
            f"special tokens ({len(SPECIAL_TOKENS)}). "
            f"Received: vocabulary_size={vocabulary_size!r}."
        )
    if model_type not in ("unigram", "bpe"):
        raise ValueError(
            "`model_type` must be 'unigram' or 'bpe'. "
            f"Received: model_type={model_type!r}."
        )
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts)))
    try:
        proto = keras_hub.tokenizers.compute_sentence_piece_proto(
            texts,
            vocabulary_size=vocabulary_size - 1,
            model_type=model_type,
            lowercase=lowercase,
        )
    except RuntimeError as e:
        raise ValueError(
            f"SentencePiece training failed for vocabulary_size="
            f"{vocabulary_size}: {str(e).rstrip('.')}. For a small corpus, ask for a smaller "
            "`vocabulary_size`."
        ) from None
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(proto)
    for index, name in enumerate((PAD, UNK, CLS, SEP)):
        model.pieces[index].piece = name
    spec = model.trainer_spec
    spec.pad_piece, spec.unk_piece, spec.bos_piece, spec.eos_piece = (
        PAD, UNK, CLS, SEP,
    )
    mask = model.pieces.add()
    mask.piece = MASK
    mask.score = 0.0
    mask.type = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED
    return model.SerializeToString()
