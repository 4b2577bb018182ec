"""`SentencePiecePreprocessor`: raw text to BERT inputs with a SentencePiece model.

The SentencePiece twin of `TextPreprocessor`, built only from ops the TF
Serving model server links (tf.text's `SentencepieceTokenizer`, never
keras-hub's fast variants).
"""

from __future__ import annotations

import base64
import hashlib

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from kerasft import compat
from kerasft.tokenizers.bert_inputs import BertInputsLayer
from kerasft.tokenizers.sentencepiece_model import read_sentencepiece_proto
from kerasft.tokenizers.special_tokens import check_special_tokens

# SentencePiece's word-boundary marker (U+2581), which starts a word's
# first piece.
_WORD_BOUNDARY = "\u2581"


class _SharedSentencepieceResource(tf.saved_model.experimental.TrackableResource):
    """tf.text's SentencePiece model resource, under a shared name."""

    def __init__(self, model: bytes, shared_name: str):
        super().__init__()
        self._model = model
        self._shared_name = shared_name
        _ = self.resource_handle  # Creates the resource now, as tf.text does.

    def _create_resource(self):
        return compat.sentencepiece_resource(self._model, self._shared_name)


@keras.saving.register_keras_serializable(package="kerasft")
class SentencePiecePreprocessor(BertInputsLayer):
    """Raw strings to BERT inputs with a SentencePiece model, serving-safe.

    The SentencePiece twin of `TextPreprocessor` (same outputs and methods):
    tokenizes with tf.text's `SentencepieceTokenizer` (a covered op; the
    model proto is a graph constant), then trims, adds `[CLS]`/`[SEP]` and
    pads exactly as `TextPreprocessor` does. Lowercasing, if any, is the
    model's own normalization rule.

    Args:
        proto: the serialized model (bytes), the path of a `.spm`/`.model`
            file, or its base64 text (as in `get_config`). Must contain the
            pieces `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]` (as
            `train_sentencepiece` makes).
        sequence_length: the maximum length, special tokens included.
        pad_to_longest: pad each batch to its longest row instead of to
            `sequence_length`.

    Example:
    >>> from kerasft.tokenizers import train_sentencepiece
    >>> texts = ["the film is good", "a great movie", "it was fun", "the plot is dull"] * 20
    >>> proto = train_sentencepiece(texts + ["an awful movie"] * 20, 30)
    >>> pre = SentencePiecePreprocessor(proto)
    >>> pre(tf.constant(["a b", "b"]))["token_ids"].shape[0]
    2
    """

    def __init__(
        self,
        proto: bytes | str,
        sequence_length: int = 128,
        pad_to_longest: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.proto, model = read_sentencepiece_proto(proto)
        vocabulary = [p.piece for p in model.pieces]
        check_special_tokens(
            vocabulary,
            "proto",
            "Train it with `kerasft.tokenizers.train_sentencepiece`.",
            as_pieces=True,
        )
        self._init_bert_inputs(vocabulary, sequence_length, pad_to_longest)
        self.lowercase = model.normalizer_spec.name.endswith("_cf")
        normal = 1  # ModelProto.SentencePiece.NORMAL
        # A piece starts a word if it carries the boundary marker or is not
        # an ordinary piece (special and byte pieces stand alone).
        self._word_starts = tf.constant(
            [
                p.type != normal or p.piece.startswith(_WORD_BOUNDARY)
                for p in model.pieces
            ]
        )
        self._tokenizer = tf_text.SentencepieceTokenizer(
            model=self.proto, out_type=tf.int32
        )
        # tf.text's model resource is private to the op's kernel, which an
        # eager kernel-cache clear (`tf.random.set_seed` does one) destroys,
        # leaving pipelines with a dangling handle. A shared name keeps the
        # resource in the resource manager instead.
        self._tokenizer._model_resource = _SharedSentencepieceResource(
            self.proto, "kerasft_sentencepiece_" + hashlib.sha1(self.proto).hexdigest()
        )
        self.built = True

    @property
    def lookup_table(self) -> tf.Module:
        """The tokenizer resource (track it when exporting)."""
        return self._tokenizer

    def tokenize(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Strings `[batch]` to int64 pieces `[batch, pieces]`."""
        pieces = self._tokenizer.tokenize(tf.convert_to_tensor(text))
        # int64 like `TextPreprocessor` (the op itself only emits int32).
        return tf.cast(pieces, tf.int64)

    def _group_words(self, pieces, *others):
        """Regroup `[batch, pieces]` (and aligned tensors) into words."""
        starts = tf.gather(self._word_starts, pieces.flat_values)
        # The first piece of a text always starts a word.
        first = tf.equal(
            tf.range(tf.size(pieces.flat_values, out_type=tf.int64)),
            tf.gather(pieces.row_starts(), pieces.value_rowids()),
        )
        starts = tf.logical_or(starts, first)
        word_rows = tf.gather(pieces.value_rowids(), tf.where(starts)[:, 0])
        words_per_row = tf.math.bincount(
            word_rows, minlength=pieces.nrows(), maxlength=pieces.nrows(),
            dtype=tf.int64,
        )
        row_starts = tf.where(starts)[:, 0]

        def group(values):
            words = tf.RaggedTensor.from_row_starts(values, row_starts)
            return tf.RaggedTensor.from_row_lengths(words, words_per_row)

        return tuple(group(t.flat_values) for t in (pieces, *others))

    def tokenize_words(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Strings `[batch]` to int64 pieces `[batch, words, pieces]`."""
        return self._group_words(self.tokenize(text))[0]

    def tokenize_with_offsets(self, text: tf.Tensor):
        """Pieces plus each piece's byte offsets `[batch, words, pieces]`."""
        pieces, starts, ends = self._tokenizer.tokenize_with_offsets(
            tf.convert_to_tensor(text)
        )
        return self._group_words(tf.cast(pieces, tf.int64), starts, ends)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "proto": base64.b64encode(self.proto).decode("ascii"),
        }
