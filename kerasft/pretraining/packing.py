"""Turn tokenized documents into fixed-length BERT rows: packed or padded.

Two layouts, both as streaming `tf.data` ops:

- `"pack"`: documents are concatenated, each followed by `[SEP]`, and the
  stream is cut into rows of `sequence_length` that each start with
  `[CLS]`. A long document simply continues on the next row, so nothing is
  dropped and only the very last row has padding. Documents are marked by
  alternating `segment_ids` within a row: the first (possibly continued)
  document is segment 0, the next 1, then 0 again; its `[SEP]` takes the
  document's segment, `[CLS]` and padding take 0. That fits
  `keras_hub.models.BertBackbone`'s `num_segments=2`. Attention still spans
  the whole row (as in RoBERTa's FULL-SENTENCES packing).
- `"pad"`: one document per row, `[CLS] doc [SEP]` then padding, as at
  fine-tuning time. A document longer than `sequence_length - 2` pieces is
  split into several such rows rather than truncated. All segment ids are 0.

Empty documents are dropped in both modes, and order is kept, so shuffle
documents before packing (and rows after, if wanted). Masking comes *after*
packing (`kerasft.pretraining.masking`), so each row also carries
`word_ids`: the index of the word each piece belongs to within its row
(`[CLS]` is word 0 and each `[SEP]` is a word of its own; -1 on padding).
A word cut by a row boundary becomes two words, one per row. `word_pieces`
turns a batch back into `[batch, (words), (pieces)]` for whole-word
masking; `kerasft.pretraining.masking.masked_lm_example` does that and
drops `word_ids` from the model inputs.
"""

from __future__ import annotations

import functools
import numbers

import tensorflow as tf

_MODES = ("pack", "pad")


def _check_int(name, value, minimum):
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < minimum
    ):
        raise ValueError(
            f"`{name}` must be an int >= {minimum}. "
            f"Received: {name}={value!r}."
        )


def _documents(token_ids):
    """Non-empty documents as int32 `[docs, (pieces)]`, plus word starts."""
    token_ids = tf.cast(token_ids, tf.int32)
    if token_ids.ragged_rank == 2:
        in_word = tf.ragged.range(token_ids.values.row_lengths())
        starts = token_ids.with_flat_values(
            tf.equal(in_word.flat_values, 0)
        ).merge_dims(1, 2)
        token_ids = token_ids.merge_dims(1, 2)
    else:
        starts = tf.ones_like(token_ids, dtype=tf.bool)
    keep = tf.where(token_ids.row_lengths() > 0)[:, 0]
    return tf.gather(token_ids, keep), tf.gather(starts, keep)


def _column(batch_size, value, dtype):
    return tf.fill(tf.stack([batch_size, 1]), tf.constant(value, dtype))


def _word_ids(word_starts, padding_mask):
    ids = tf.cumsum(tf.cast(word_starts, tf.int32), axis=1) - 1
    return tf.where(padding_mask, ids, -1)


# The map functions are plain TF ops (no tensor-dependent Python control
# flow), so they skip autograph's slow source conversion.
@tf.autograph.experimental.do_not_convert
def _pack_stream(token_ids, sep_token_id):
    """Flattens a batch of documents, each followed by `[SEP]`."""
    docs, starts = _documents(token_ids)
    rows = docs.nrows()
    sep = tf.RaggedTensor.from_tensor(_column(rows, sep_token_id, tf.int32))
    true = tf.RaggedTensor.from_tensor(_column(rows, True, tf.bool))
    ends = tf.concat([tf.zeros_like(docs, dtype=tf.bool), true], axis=1)
    tokens = tf.concat([docs, sep], axis=1).flat_values
    return {
        "token_ids": tokens,
        "word_starts": tf.concat([starts, true], axis=1).flat_values,
        "document_ends": ends.flat_values,
        "real": tf.ones_like(tokens, dtype=tf.bool),
    }


@tf.autograph.experimental.do_not_convert
def _finish_packed_rows(chunks, cls_token_id):
    """Prepends `[CLS]` to `[batch, sequence_length - 1]` chunks."""
    rows = tf.shape(chunks["token_ids"])[0]
    padding_mask = tf.concat(
        [_column(rows, True, tf.bool), chunks["real"]], axis=1
    )
    token_ids = tf.concat(
        [_column(rows, cls_token_id, tf.int32), chunks["token_ids"]], axis=1
    )
    # A row may start inside a word; the row's first piece starts a word.
    first = tf.range(tf.shape(token_ids)[1]) <= 1
    word_starts = tf.logical_or(
        tf.concat([_column(rows, True, tf.bool), chunks["word_starts"]], 1),
        first[tf.newaxis, :],
    )
    ends = tf.cast(chunks["document_ends"], tf.int32)
    ends = tf.concat([_column(rows, 0, tf.int32), ends], axis=1)
    # A document's own [SEP] keeps its segment: count only earlier ends.
    segment_ids = tf.math.floormod(tf.cumsum(ends, axis=1, exclusive=True), 2)
    return {
        "token_ids": token_ids,
        "segment_ids": tf.where(padding_mask, segment_ids, 0),
        "padding_mask": padding_mask,
        "word_ids": _word_ids(word_starts, padding_mask),
    }


@tf.autograph.experimental.do_not_convert
def _pad_rows(token_ids, sequence_length, cls_token_id, sep_token_id,
              pad_token_id):
    """One `[CLS] chunk [SEP]` row per `sequence_length - 2` piece chunk."""
    docs, starts = _documents(token_ids)
    width = sequence_length - 2
    lengths = tf.cast(docs.row_lengths(), tf.int32)
    chunks_per_doc = (lengths + width - 1) // width
    in_doc = tf.ragged.range(lengths).flat_values
    chunk = tf.gather(
        tf.cumsum(chunks_per_doc, exclusive=True), docs.value_rowids()
    ) + in_doc // width
    # int64 row ids, matching the row partitions of the columns around it.
    chunk = tf.cast(chunk, tf.int64)
    num_chunks = tf.cast(tf.reduce_sum(chunks_per_doc), tf.int64)

    def rechunk(values):
        return tf.RaggedTensor.from_value_rowids(values, chunk, num_chunks)

    chunk_starts = tf.logical_or(starts.flat_values, in_doc % width == 0)
    true = tf.RaggedTensor.from_tensor(_column(num_chunks, True, tf.bool))
    tokens = tf.concat(
        [
            tf.RaggedTensor.from_tensor(
                _column(num_chunks, cls_token_id, tf.int32)
            ),
            rechunk(docs.flat_values),
            tf.RaggedTensor.from_tensor(
                _column(num_chunks, sep_token_id, tf.int32)
            ),
        ],
        axis=1,
    )
    word_starts = tf.concat([true, rechunk(chunk_starts), true], axis=1)
    shape = [None, sequence_length]
    padding_mask = tf.sequence_mask(tokens.row_lengths(), sequence_length)
    return {
        "token_ids": tokens.to_tensor(pad_token_id, shape=shape),
        "segment_ids": tf.zeros_like(padding_mask, dtype=tf.int32),
        "padding_mask": padding_mask,
        "word_ids": _word_ids(word_starts.to_tensor(False, shape=shape),
                              padding_mask),
    }


def pack_dataset(
    dataset: tf.data.Dataset,
    *,
    sequence_length: int,
    batch_size: int,
    cls_token_id: int,
    sep_token_id: int,
    pad_token_id: int = 0,
    mode: str = "pack",
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Turn batches of tokenized documents into batches of BERT rows.

    See the module docstring for the two layouts. Batches hold exactly
    `batch_size` rows, except possibly the last (unless `drop_remainder`).

    Args:
        dataset: a `tf.data.Dataset` of ragged int ids, `[batch, (words),
            (pieces)]` (as `tf_text.BertTokenizer.tokenize` returns; keeps
            word structure for whole-word masking) or `[batch, (pieces)]`
            (each piece then counts as a word).
        sequence_length: the row length, `[CLS]` and `[SEP]` included.
        batch_size: rows per output batch.
        cls_token_id: the `[CLS]` id.
        sep_token_id: the `[SEP]` id.
        pad_token_id: the `[PAD]` id.
        mode: `"pack"` (concatenate documents) or `"pad"` (one per row).
        drop_remainder: drop a last batch smaller than `batch_size`.

    Returns:
        A dataset of dicts of dense `[batch, sequence_length]` tensors:
        `token_ids` (int32), `segment_ids` (int32), `padding_mask` (bool)
        and `word_ids` (int32).

    Example:
    >>> docs = tf.data.Dataset.from_tensors(
    ...     tf.ragged.constant([[5, 6, 7], [8, 9]]))
    >>> ds = pack_dataset(docs, sequence_length=8, batch_size=4,
    ...     cls_token_id=2, sep_token_id=3)
    >>> next(iter(ds))["token_ids"].numpy().tolist()
    [[2, 5, 6, 7, 3, 8, 9, 3]]
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(
            "`dataset` must be a `tf.data.Dataset`. "
            f"Received: dataset of type {type(dataset).__name__}."
        )
    spec = dataset.element_spec
    if (
        not isinstance(spec, tf.RaggedTensorSpec)
        or spec.shape.rank not in (2, 3)
        or spec.ragged_rank != spec.shape.rank - 1
        or not spec.dtype.is_integer
    ):
        raise TypeError(
            "`dataset` elements must be ragged int ids `[batch, (words), "
            "(pieces)]` or `[batch, (pieces)]` (tokenize, then batch, before "
            f"packing). Received: element_spec={spec}."
        )
    if mode not in _MODES:
        raise ValueError(
            f"`mode` must be one of {_MODES}. Received: mode={mode!r}."
        )
    _check_int("sequence_length", sequence_length, 3 if mode == "pad" else 2)
    _check_int("batch_size", batch_size, 1)
    for name, value in (
        ("cls_token_id", cls_token_id),
        ("sep_token_id", sep_token_id),
        ("pad_token_id", pad_token_id),
    ):
        _check_int(name, value, 0)

    sequence_length, batch_size = int(sequence_length), int(batch_size)
    cls_token_id, sep_token_id = int(cls_token_id), int(sep_token_id)
    pad_token_id = int(pad_token_id)
    autotune = tf.data.AUTOTUNE
    if mode == "pad":
        pad_rows = functools.partial(
            _pad_rows,
            sequence_length=sequence_length,
            cls_token_id=cls_token_id,
            sep_token_id=sep_token_id,
            pad_token_id=pad_token_id,
        )
        return dataset.map(pad_rows, num_parallel_calls=autotune).rebatch(
            batch_size, drop_remainder=drop_remainder
        )

    width = sequence_length - 1
    padded_shapes = {
        "token_ids": [width],
        "word_starts": [width],
        "document_ends": [width],
        "real": [width],
    }
    padding_values = {
        "token_ids": tf.constant(pad_token_id, tf.int32),
        "word_starts": False,
        "document_ends": False,
        "real": False,
    }
    # `rebatch` cuts the flat piece stream into rows across input batches
    # with a single copy; only the stream's last row comes out short.
    return (
        dataset.map(
            functools.partial(_pack_stream, sep_token_id=sep_token_id),
            num_parallel_calls=autotune,
        )
        .rebatch(width)
        .padded_batch(
            batch_size,
            padded_shapes=padded_shapes,
            padding_values=padding_values,
            drop_remainder=drop_remainder,
        )
        .map(
            functools.partial(_finish_packed_rows, cls_token_id=cls_token_id),
            num_parallel_calls=autotune,
        )
    )


@tf.autograph.experimental.do_not_convert
def word_pieces(
    token_ids: tf.Tensor, word_ids: tf.Tensor, padding_mask: tf.Tensor
) -> tf.RaggedTensor:
    """Regroup a packed batch as `[batch, (words), (pieces)]`, padding dropped.

    Args:
        token_ids: dense `[batch, sequence_length]` ids.
        word_ids: the matching `word_ids` from `pack_dataset`.
        padding_mask: the matching `padding_mask`; padding must be at the
            tail of each row.

    Example:
    >>> word_pieces(tf.constant([[2, 5, 6, 3, 0]]),
    ...     tf.constant([[0, 1, 1, 2, -1]]),
    ...     tf.constant([[True, True, True, True, False]])).to_list()
    [[[2], [5, 6], [3]]]
    """
    padding_mask = tf.cast(padding_mask, tf.bool)
    word_ids = tf.cast(word_ids, tf.int32)
    starts = tf.concat(
        [
            tf.ones_like(word_ids[:, :1], dtype=tf.bool),
            tf.not_equal(word_ids[:, 1:], word_ids[:, :-1]),
        ],
        axis=1,
    )
    starts = tf.logical_and(starts, padding_mask)
    lengths = tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1)
    pieces = tf.RaggedTensor.from_tensor(token_ids, lengths=lengths)
    starts = tf.RaggedTensor.from_tensor(starts, lengths=lengths)
    words_per_row = tf.reduce_sum(tf.cast(starts, tf.int32), axis=1)
    words = tf.RaggedTensor.from_row_starts(
        pieces.flat_values,
        tf.cast(tf.where(starts.flat_values)[:, 0], pieces.row_splits.dtype),
    )
    return tf.RaggedTensor.from_row_lengths(
        words, tf.cast(words_per_row, pieces.row_splits.dtype)
    )
