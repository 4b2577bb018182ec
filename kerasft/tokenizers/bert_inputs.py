"""BERT inputs from word pieces: trim, add `[CLS]`/`[SEP]`, pad.

`pack_pieces` and the `BertInputsLayer` base are what the WordPiece and the
SentencePiece preprocessing layers share, so both pack identically; they
differ only in how text becomes pieces.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from kerasft.tokenizers.special_tokens import CLS, MASK, PAD, SEP, UNK


def pack_pieces(
    pieces: tf.RaggedTensor,
    *,
    sequence_length: int,
    cls_token_id: int,
    sep_token_id: int,
    pad_token_id: int,
    pad_to_longest: bool = True,
) -> dict[str, tf.Tensor]:
    """Trim ragged `[batch, pieces]`, add `[CLS]`/`[SEP]`, pad to dense.

    Covered ops only (`WaterfallTrimmer`, `combine_segments`): shared by both
    preprocessing layers so they pack identically.

    Args:
        pieces: int64 ragged ids `[batch, (pieces)]`.
        sequence_length: the maximum length, special tokens included.
        cls_token_id, sep_token_id, pad_token_id: the special ids.
        pad_to_longest: pad to the batch's longest row, not `sequence_length`.

    Example:
    >>> pack_pieces(tf.ragged.constant([[5, 6]], tf.int64), sequence_length=8,
    ...     cls_token_id=2, sep_token_id=3, pad_token_id=0)["token_ids"].numpy().tolist()
    [[2, 5, 6, 3]]
    """
    pieces = tf.cast(pieces, tf.int64)
    trimmed = tf_text.WaterfallTrimmer(sequence_length - 2).trim([pieces])
    token_ids, segment_ids = tf_text.combine_segments(
        trimmed,
        start_of_sequence_id=cls_token_id,
        end_of_segment_id=sep_token_id,
    )
    lengths = token_ids.row_lengths()
    width = (
        tf.reduce_max(tf.concat([lengths, [2]], 0))
        if pad_to_longest
        else tf.constant(sequence_length, tf.int64)
    )
    shape = tf.stack([tf.shape(lengths, out_type=tf.int64)[0], width])
    token_ids = token_ids.to_tensor(
        default_value=tf.constant(pad_token_id, tf.int64), shape=shape
    )
    segment_ids = segment_ids.to_tensor(shape=shape)
    padding_mask = tf.sequence_mask(lengths, width)
    return {
        "token_ids": tf.cast(token_ids, "int32"),
        "segment_ids": tf.cast(segment_ids, "int32"),
        "padding_mask": padding_mask,
    }


class BertInputsLayer(keras.layers.Layer):
    """What both preprocessors share: special ids, packing and the Keras glue.

    Subclasses tokenize (`tokenize`, `tokenize_words`) and call
    `_init_bert_inputs` once they know their vocabulary.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        # Strings go straight to tf ops; Keras must not convert them.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    def _init_bert_inputs(
        self, vocabulary: list[str], sequence_length: int, pad_to_longest: bool
    ) -> None:
        if not isinstance(sequence_length, int) or sequence_length < 3:
            raise ValueError(
                "`sequence_length` must be an int >= 3 (room for [CLS], one "
                f"piece and [SEP]). Received: sequence_length={sequence_length!r}."
            )
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self.pad_to_longest = pad_to_longest
        index = {t: i for i, t in enumerate(vocabulary)}
        self.pad_token_id = index[PAD]
        self.unk_token_id = index[UNK]
        self.cls_token_id = index[CLS]
        self.sep_token_id = index[SEP]
        self.mask_token_id = index[MASK]

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    @property
    def special_token_ids(self) -> list[int]:
        return [
            self.pad_token_id,
            self.unk_token_id,
            self.cls_token_id,
            self.sep_token_id,
            self.mask_token_id,
        ]

    def pack(self, pieces: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """Trim ragged `[batch, pieces]`, add `[CLS]`/`[SEP]`, pad to dense."""
        return pack_pieces(
            pieces,
            sequence_length=self.sequence_length,
            cls_token_id=self.cls_token_id,
            sep_token_id=self.sep_token_id,
            pad_token_id=self.pad_token_id,
            pad_to_longest=self.pad_to_longest,
        )

    def encode_rows(self, texts, *, chunk_size: int = 4096) -> list[np.ndarray]:
        """Each text's `[CLS] pieces [SEP]` ids (trimmed), tokenized eagerly.

        Training input pipelines pad these with `pad_rows` in numpy: tracing
        the tokenizer into every `tf.data.map` cost about a second a dataset.
        `pad_rows(encode_rows(texts))` equals `self(texts)`.
        """
        keep = self.sequence_length - 2
        rows = []
        for start in range(0, len(texts), chunk_size):
            pieces = self.tokenize(tf.constant(list(texts[start : start + chunk_size])))
            for ids in pieces.numpy():
                ids = np.asarray(ids, dtype="int32")[:keep]
                rows.append(np.concatenate(
                    [[self.cls_token_id], ids, [self.sep_token_id]]).astype("int32"))
        return rows

    def pad_rows(self, rows: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """`encode_rows` rows as one padded batch of BERT inputs (numpy)."""
        lengths = np.array([len(r) for r in rows], dtype="int64")
        width = int(lengths.max(initial=2)) if self.pad_to_longest else self.sequence_length
        ids = np.full((len(rows), width), self.pad_token_id, dtype="int32")
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        return {
            "token_ids": ids,
            "segment_ids": np.zeros_like(ids),
            "padding_mask": np.arange(width)[None, :] < lengths[:, None],
        }

    def call(self, text):
        text = tf.convert_to_tensor(text)
        if text.shape.rank == 0:
            text = text[tf.newaxis]
        return self.pack(self.tokenize(text))

    def compute_output_spec(self, text):
        # Shapes depend on the data; keep Keras' symbolic tracing happy.
        batch = text.shape[0] if hasattr(text, "shape") and text.shape else None
        spec = keras.KerasTensor((batch, None), dtype="int32")
        return {
            "token_ids": spec,
            "segment_ids": spec,
            "padding_mask": keras.KerasTensor((batch, None), dtype="bool"),
        }

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "pad_to_longest": self.pad_to_longest,
        }
