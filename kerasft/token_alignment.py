"""Words to word pieces and back: the graph-side half of token classification.

A token-classification head labels *words*, the model sees *word pieces*.
This module owns the mapping, identically for training and serving:

- Words: CoNLL tokens at training time; at serving time the whitespace split
  of the raw string (`tf_text.WhitespaceTokenizer`, an op TF Serving links).
- Each word is run through the model's `TextPreprocessor` on its own, so its
  pieces never depend on its neighbours, and a word the basic tokenizer
  splits further (`"U.S."` is four basic tokens) still maps to ONE word. A
  word that tokenizes to nothing (e.g. only control characters) gets one
  `[UNK]`, so every word has a first piece to carry its label.
- The label of a word sits on its first piece (TF Model Garden's
  `official/nlp/tasks/tagging.py` convention); other pieces, `[CLS]`, `[SEP]`
  and padding are ignored.
- Long sentences are truncated to `sequence_length - 2` pieces: a word whose
  first piece falls beyond that has `first_piece_index == -1`; training skips
  it (the head logs how many words were cut), serving tags it `"O"` with
  score 0, and evaluation counts it as predicted `"O"`.

Everything here is TF core plus covered tf.text ops, so it runs inside a
SavedModel served by TF Serving.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from kerasft.tokenizers import TextPreprocessor

# Tag prefix codes used by `decode_spans`.
OUTSIDE, BEGIN, INSIDE = 0, 1, 2


def word_piece_ids(preprocessor: TextPreprocessor, words: tf.RaggedTensor) -> tf.RaggedTensor:
    """Tokenize words one by one into int64 pieces `[batch, (words), (pieces)]`.

    Args:
        preprocessor: the model's `TextPreprocessor`.
        words: a string `tf.RaggedTensor` `[batch, (words)]`.

    Example:
    >>> pre = TextPreprocessor(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "."])
    >>> word_piece_ids(pre, tf.ragged.constant([["a.", "a"]])).to_list()
    [[[5, 6], [5]]]
    """
    flat = words.flat_values
    # [words, (basic tokens), (pieces)] -> [words, (pieces)]: punctuation the
    # basic tokenizer splits off stays inside its CoNLL word.
    pieces = preprocessor.tokenize_words(flat).merge_dims(-2, -1)
    empty = tf.equal(pieces.row_lengths(), 0)
    num_empty = tf.reduce_sum(tf.cast(empty, tf.int32))
    unk = tf.RaggedTensor.from_row_lengths(
        tf.fill(tf.reshape(num_empty, [1]), tf.constant(preprocessor.unk_token_id, tf.int64)),
        tf.cast(empty, tf.int64),
    )
    pieces = tf.concat([pieces, unk], axis=1)
    return words.with_flat_values(pieces)


def _exclusive_row_cumsum(values: tf.RaggedTensor) -> tf.RaggedTensor:
    """Per-row exclusive cumulative sums of a ragged `[batch, (n)]` tensor."""
    flat = values.flat_values
    total = tf.cumsum(flat, exclusive=True)
    # Subtract each row's running total at its first element.
    padded = tf.concat([total, tf.reshape(tf.reduce_sum(flat), [1])], 0)
    row_offsets = tf.gather(padded, values.row_starts())
    return values.with_flat_values(total - tf.gather(row_offsets, values.value_rowids()))


def pack_words(preprocessor: TextPreprocessor, words: tf.RaggedTensor) -> dict:
    """Backbone inputs for pre-split words, plus where each word's label sits.

    Args:
        preprocessor: the model's `TextPreprocessor` (its `sequence_length`
            bounds the pieces; `[CLS]`/`[SEP]` are added).
        words: a string `tf.RaggedTensor` `[batch, (words)]`.

    Returns:
        `token_ids`, `segment_ids`, `padding_mask` (as `preprocessor` gives
        them), `first_piece_index` int32 `[batch, max_words]` (the position of
        each word's first piece in `token_ids`; -1 for truncated words and
        padding) and `num_words` int32 `[batch]`.

    Example:
    >>> pre = TextPreprocessor(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "."])
    >>> out = pack_words(pre, tf.ragged.constant([["a.", "a"], ["."]]))
    >>> out["token_ids"].numpy().tolist(), out["first_piece_index"].numpy().tolist()
    ([[2, 5, 6, 5, 3], [2, 6, 3, 0, 0]], [[1, 3], [1, -1]])
    """
    pieces = word_piece_ids(preprocessor, words)
    features = preprocessor.pack(pieces.merge_dims(-2, -1))
    starts = _exclusive_row_cumsum(pieces.row_lengths(axis=-1))
    budget = preprocessor.sequence_length - 2
    first = tf.where(starts.flat_values < budget, starts.flat_values + 1, -1)
    features["first_piece_index"] = tf.cast(
        starts.with_flat_values(first).to_tensor(default_value=-1), tf.int32
    )
    features["num_words"] = tf.cast(words.row_lengths(), tf.int32)
    return features


def byte_to_char_offsets(text: tf.Tensor, row_ids: tf.Tensor, byte_offsets: tf.Tensor) -> tf.Tensor:
    """Convert byte offsets into `text[row_ids]` to Unicode character offsets.

    Characters are those of the text decoded as UTF-8, each invalid byte
    sequence one U+FFFD (as Python's `bytes.decode("utf-8", "replace")`
    counts them). The cost is linear in the batch's bytes: one sorted list
    of every character's start is searched, never a copy of a text per
    offset (which is quadratic on a long text of many words).

    Args:
        text: string `[batch]`.
        row_ids: int `[n]`, the row of `text` each offset refers to.
        byte_offsets: int `[n]` byte positions (at character boundaries).

    Example:
    >>> byte_to_char_offsets(tf.constant(["é b"]), tf.constant([0]), tf.constant([3])).numpy()
    array([2], dtype=int32)
    """
    _, char_starts = tf.strings.unicode_decode_with_offsets(
        text, "UTF-8", errors="replace"
    )
    # Positions in the batch's texts laid end to end: sorted across rows.
    row_bytes = tf.cumsum(tf.cast(tf.strings.length(text), tf.int64), exclusive=True)
    starts = char_starts.flat_values + tf.gather(row_bytes, char_starts.value_rowids())
    row_ids = tf.cast(row_ids, tf.int64)
    positions = tf.gather(row_bytes, row_ids) + tf.cast(byte_offsets, tf.int64)
    chars = tf.searchsorted(starts, positions, side="left", out_type=tf.int64)
    return tf.cast(chars - tf.gather(char_starts.row_starts(), row_ids), tf.int32)


# tf.text's WhitespaceTokenizer ends a word that a multi-byte space follows
# (U+00A0, U+2028, U+3000...) inside that space, whose leading bytes it keeps
# in the word. Replacing each by as many ASCII spaces keeps every offset.
_TWO_BYTE_SPACES = "[\u0085\u00a0]"
_THREE_BYTE_SPACES = "[\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def split_words(text: tf.Tensor) -> dict:
    """Whitespace-split raw strings into words with byte and character offsets.

    Whitespace is Unicode's (`White_Space`: ASCII spaces and controls,
    U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
    U+3000); character offsets count as `byte_to_char_offsets` does.

    Args:
        text: string `[batch]`.

    Returns:
        `words` (ragged string `[batch, (words)]`), and ragged int32
        `start_byte`, `end_byte`, `start_char`, `end_char` (ends exclusive).

    Example:
    >>> split_words(tf.constant(["né  à"]))["end_char"].to_list()
    [[2, 5]]
    >>> split_words(tf.constant(["10\u00a0km"]))["words"].to_list()
    [[b'10', b'km']]
    """
    spaced = tf.strings.regex_replace(text, _TWO_BYTE_SPACES, "  ")
    spaced = tf.strings.regex_replace(spaced, _THREE_BYTE_SPACES, "   ")
    words, starts, ends = tf_text.WhitespaceTokenizer().tokenize_with_offsets(spaced)
    starts = tf.cast(starts, tf.int32)
    ends = tf.cast(ends, tf.int32)
    rows = words.value_rowids()
    return {
        "words": words,
        "start_byte": starts,
        "end_byte": ends,
        "start_char": starts.with_flat_values(
            byte_to_char_offsets(text, rows, starts.flat_values)
        ),
        "end_char": ends.with_flat_values(
            byte_to_char_offsets(text, rows, ends.flat_values)
        ),
    }


def serving_word_features(preprocessor: TextPreprocessor, text: tf.Tensor) -> dict:
    """Raw strings to backbone inputs plus the word information `postprocess` needs.

    Args:
        preprocessor: the model's `TextPreprocessor`.
        text: string `[batch]` (a scalar is treated as a batch of one).

    Returns:
        `pack_words` outputs, plus `text` `[batch]`, `words` string
        `[batch, max_words]` (`""`-padded), `word_start`/`word_end` int32
        character offsets and `word_start_byte`/`word_end_byte` byte offsets.

    Example:
    >>> pre = TextPreprocessor(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
    >>> serving_word_features(pre, tf.constant(["a  a"]))["word_start"].numpy().tolist()
    [[0, 3]]
    """
    text = tf.convert_to_tensor(text, tf.string)
    if text.shape.rank == 0:
        text = text[tf.newaxis]
    split = split_words(text)
    features = pack_words(preprocessor, split["words"])
    features["text"] = text
    features["words"] = split["words"].to_tensor(default_value="")
    for name, key in (
        ("word_start", "start_char"),
        ("word_end", "end_char"),
        ("word_start_byte", "start_byte"),
        ("word_end_byte", "end_byte"),
    ):
        features[name] = split[key].to_tensor(default_value=0)
    return features


def label_codes(labels: Sequence[str]) -> tuple[list[int], list[str], list[int]]:
    """Each label's prefix code and entity type, for `decode_spans`.

    `B-`/`S-` begin a span, `I-`/`E-` continue one, `O` is outside (BIOES is
    read as its IOB2 conversion, which is how `conlleval` is run on it).

    Args:
        labels: tags such as `["O", "B-PER", "I-PER"]`.

    Returns:
        `(prefix_codes, types, type_ids)`: a code per label, the sorted
        entity types, and each label's index into `types` (-1 for `O`).

    Example:
    >>> label_codes(["O", "B-PER", "I-PER"])
    ([0, 1, 2], ['PER'], [-1, 0, 0])
    """
    codes, label_types = [], []
    for label in labels:
        if label == "O":
            codes.append(OUTSIDE)
            label_types.append(None)
            continue
        prefix, hyphen, entity_type = label.partition("-")
        if not hyphen or not entity_type or prefix not in ("B", "I", "E", "S"):
            raise ValueError(
                "`labels` must be 'O' or tags like 'B-PER' (prefix B, I, E or "
                f"S, then '-', then the entity type). Received: {label!r} in "
                f"labels={list(labels)}."
            )
        codes.append(BEGIN if prefix in ("B", "S") else INSIDE)
        label_types.append(entity_type)
    types = sorted({t for t in label_types if t is not None})
    type_ids = [-1 if t is None else types.index(t) for t in label_types]
    return codes, types, type_ids


def decode_spans(prefix: tf.Tensor, type_id: tf.Tensor) -> dict:
    """Group per-word tags into entity spans exactly as `conlleval` chunks them.

    A span starts at a `B-` word, or at an `I-` word that follows `O` or a
    word of another type (so a stray `I-X` after `O` is an entity, as in
    `conlleval`); it continues over following `I-` words of the same type.

    Args:
        prefix: int32 `[batch, words]` prefix codes (`OUTSIDE` for padding).
        type_id: int32 `[batch, words]` entity type ids (-1 for outside).

    Returns:
        Ragged int32 `[batch, (spans)]` tensors `start` and `end` (word
        indices, end exclusive) and `type_id`, plus `span_id` int32
        `[batch, words]`: the flat index of each word's span, or -1.

    Example:
    >>> out = decode_spans(tf.constant([[1, 2, 1, 0, 2]]), tf.constant([[0, 0, 0, -1, 1]]))
    >>> out["start"].to_list(), out["end"].to_list(), out["type_id"].to_list()
    ([[0, 2, 4]], [[2, 3, 5]], [[0, 0, 1]])
    """
    prefix = tf.convert_to_tensor(prefix, tf.int32)
    type_id = tf.convert_to_tensor(type_id, tf.int32)
    batch = tf.shape(prefix)[0]
    width = tf.shape(prefix)[1]
    inside = tf.not_equal(prefix, OUTSIDE)
    prev_prefix = tf.concat([tf.fill([batch, 1], OUTSIDE), prefix[:, :-1]], axis=1)
    prev_type = tf.concat([tf.fill([batch, 1], -1), type_id[:, :-1]], axis=1)
    starts = inside & (
        tf.equal(prefix, BEGIN)
        | tf.equal(prev_prefix, OUTSIDE)
        | tf.not_equal(prev_type, type_id)
    )
    # Row-major flat numbering of spans: spans of row 0 first, then row 1...
    flat_starts = tf.reshape(starts, [-1])
    flat_inside = tf.reshape(inside, [-1])
    span_of_word = tf.cumsum(tf.cast(flat_starts, tf.int32)) - 1
    num_spans = tf.reduce_sum(tf.cast(flat_starts, tf.int32))
    column = tf.tile(tf.range(width), [batch])
    row = tf.repeat(tf.range(batch), width)
    end = tf.math.unsorted_segment_max(
        tf.boolean_mask(column, flat_inside),
        tf.boolean_mask(span_of_word, flat_inside),
        num_spans,
    ) + 1
    span_rows = tf.boolean_mask(row, flat_starts)

    def ragged(values):
        return tf.RaggedTensor.from_value_rowids(values, span_rows, nrows=batch)

    return {
        "start": ragged(tf.boolean_mask(column, flat_starts)),
        "end": ragged(end),
        "type_id": ragged(tf.boolean_mask(tf.reshape(type_id, [-1]), flat_starts)),
        "span_id": tf.reshape(tf.where(flat_inside, span_of_word, -1), [batch, width]),
    }
