"""Tests for `kerasft.pretraining.packing`."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from kerasft.pretraining.packing import pack_dataset, word_pieces

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SEQUENCE_LENGTH = 16
BATCH_SIZE = 4


@pytest.fixture
def word_docs():
    """60 documents as lists of words (lists of piece ids >= 5).

    Lengths run from empty to several rows long; words have 1-3 pieces.
    """
    rng = np.random.default_rng(0)
    docs = []
    for i in range(60):
        num_words = 0 if i % 13 == 0 else int(rng.integers(1, 25))
        docs.append(
            [
                rng.integers(5, 100, size=int(rng.integers(1, 4))).tolist()
                for _ in range(num_words)
            ]
        )
    return docs


def _dataset(docs, with_words, batch=7):
    if with_words:
        ids = tf.ragged.constant(docs, dtype=tf.int64, ragged_rank=2)
    else:
        ids = tf.ragged.constant(
            [[p for w in d for p in w] for d in docs], dtype=tf.int64
        )
    # Batches of 7 documents, so rows straddle input batches.
    return tf.data.Dataset.from_tensor_slices(ids).batch(batch)


def _collect(ds):
    batches = [{k: v.numpy() for k, v in b.items()} for b in ds]
    return batches, {
        k: np.concatenate([b[k] for b in batches]) for k in batches[0]
    }


def _pack(ds, mode="pack", **kwargs):
    return pack_dataset(
        ds,
        sequence_length=SEQUENCE_LENGTH,
        batch_size=BATCH_SIZE,
        cls_token_id=CLS,
        sep_token_id=SEP,
        pad_token_id=PAD,
        mode=mode,
        **kwargs,
    )


@pytest.mark.parametrize("with_words", [True, False])
def test_pack_fills_rows_and_keeps_every_token_in_order(word_docs, with_words):
    batches, rows = _collect(_pack(_dataset(word_docs, with_words)))

    assert all(b["token_ids"].shape == (BATCH_SIZE, SEQUENCE_LENGTH)
               for b in batches[:-1])
    assert rows["token_ids"].dtype == np.int32
    mask = rows["padding_mask"]
    # Only the very last row is padded, and only at its tail.
    assert mask[:-1].all()
    last = mask[-1]
    assert last[: last.sum()].all() and not last[last.sum():].any()
    assert (rows["token_ids"][~mask] == PAD).all()
    # [CLS] opens every row and appears nowhere else.
    assert (rows["token_ids"][:, 0] == CLS).all()
    assert (rows["token_ids"][:, 1:] != CLS).all()

    expected = []
    for doc in word_docs:
        if doc:
            expected += [p for w in doc for p in w] + [SEP]
    stream = rows["token_ids"][:, 1:][mask[:, 1:]]
    np.testing.assert_array_equal(stream, expected)
    assert len(rows["token_ids"]) == math.ceil(
        len(expected) / (SEQUENCE_LENGTH - 1)
    )


def test_pack_alternates_segments_per_document(word_docs):
    _, rows = _collect(_pack(_dataset(word_docs, True)))
    for ids, segments, mask in zip(
        rows["token_ids"], rows["segment_ids"], rows["padding_mask"]
    ):
        assert segments[0] == 0
        assert (segments[~mask] == 0).all()
        # A document's pieces and its [SEP] share a segment; the next
        # document in the row flips it.
        seps_before = np.cumsum(ids == SEP) - (ids == SEP)
        np.testing.assert_array_equal(
            segments[1:][mask[1:]], (seps_before[1:] % 2)[mask[1:]]
        )
    # Sanity: rows with several documents exist, so both segments occur.
    assert (rows["segment_ids"] == 1).any()


def test_pack_word_ids_follow_words_across_rows(word_docs):
    _, rows = _collect(_pack(_dataset(word_docs, True)))
    expected_starts = []
    for doc in word_docs:
        if doc:
            for word in doc:
                expected_starts += [True] + [False] * (len(word) - 1)
            expected_starts.append(True)  # [SEP] is a word of its own.

    word_ids, mask = rows["word_ids"], rows["padding_mask"]
    assert (word_ids[:, 0] == 0).all()
    assert (word_ids[~mask] == -1).all()
    starts = np.diff(word_ids, axis=1) != 0  # starts at positions 1..L-1
    stream_starts = starts[mask[:, 1:]]
    row_start = np.zeros_like(starts)
    row_start[:, 0] = True
    # A row's first piece always starts a word (a word may be cut in two).
    np.testing.assert_array_equal(
        stream_starts | row_start[mask[:, 1:]],
        np.array(expected_starts) | row_start[mask[:, 1:]],
    )
    assert not np.array_equal(stream_starts, np.ones_like(stream_starts))


def test_pad_mode_one_document_per_row_and_splits_long_ones(word_docs):
    batches, rows = _collect(
        _pack(_dataset(word_docs, True), mode="pad")
    )
    assert [len(b["token_ids"]) for b in batches[:-1]] == [BATCH_SIZE] * (
        len(batches) - 1
    )
    width = SEQUENCE_LENGTH - 2
    row = 0
    for doc in word_docs:
        pieces = [p for w in doc for p in w]
        for start in range(0, len(pieces), width):
            chunk = pieces[start:start + width]
            ids, mask = rows["token_ids"][row], rows["padding_mask"][row]
            expected = [CLS] + chunk + [SEP]
            expected += [PAD] * (SEQUENCE_LENGTH - len(expected))
            np.testing.assert_array_equal(ids, expected)
            np.testing.assert_array_equal(
                mask, np.arange(SEQUENCE_LENGTH) < len(chunk) + 2
            )
            row += 1
    assert row == len(rows["token_ids"])  # Empty documents were dropped.
    assert (rows["segment_ids"] == 0).all()
    # At least one document needed several rows.
    assert max(sum(len(w) for w in d) for d in word_docs) > width


def test_pad_mode_word_ids_and_word_pieces():
    ds = tf.data.Dataset.from_tensors(
        tf.ragged.constant([[[5, 6, 7], [8]], [[9]]], ragged_rank=2)
    )
    batch = next(iter(pack_dataset(
        ds, sequence_length=6, batch_size=2, cls_token_id=CLS,
        sep_token_id=SEP, mode="pad",
    )))
    np.testing.assert_array_equal(
        batch["word_ids"], [[0, 1, 1, 1, 2, 3], [0, 1, 2, -1, -1, -1]]
    )
    words = word_pieces(
        batch["token_ids"], batch["word_ids"], batch["padding_mask"]
    )
    assert words.to_list() == [
        [[CLS], [5, 6, 7], [8], [SEP]], [[CLS], [9], [SEP]]
    ]


def test_drop_remainder_gives_full_batches_only(word_docs):
    for mode in ("pack", "pad"):
        batches, _ = _collect(
            _pack(_dataset(word_docs, False), mode=mode, drop_remainder=True)
        )
        assert {b["token_ids"].shape for b in batches} == {
            (BATCH_SIZE, SEQUENCE_LENGTH)
        }


def test_packs_bert_tokenizer_output():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##believ",
             "##able", "film", "good"]
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            vocab, tf.range(len(vocab), dtype=tf.int64)
        ),
        default_value=UNK,
    )
    tokenizer = tf_text.BertTokenizer(table, token_out_type=tf.int64)
    texts = tf.data.Dataset.from_tensor_slices(
        ["unbelievable film", "good", "xyz good film"]
    )
    ds = pack_dataset(
        texts.batch(2).map(tokenizer.tokenize), sequence_length=32,
        batch_size=8, cls_token_id=CLS, sep_token_id=SEP,
    )
    batch = next(iter(ds))
    n = int(batch["padding_mask"].numpy().sum())
    assert batch["token_ids"].numpy()[0, :n].tolist() == [
        2, 5, 6, 7, 8, 3, 9, 3, 1, 9, 8, 3
    ]
    assert batch["word_ids"].numpy()[0, :n].tolist() == [
        0, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9
    ]
    segments = batch["segment_ids"].numpy()[0, :n].tolist()
    assert segments == [0] * 6 + [1] * 2 + [0] * 4


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"mode": "packed"}, ValueError, "`mode`"),
        ({"sequence_length": 1}, ValueError, "`sequence_length`"),
        ({"batch_size": 0}, ValueError, "`batch_size`"),
        ({"cls_token_id": -1}, ValueError, "`cls_token_id`"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    ds = tf.data.Dataset.from_tensors(tf.ragged.constant([[5, 6]]))
    args = dict(sequence_length=8, batch_size=2, cls_token_id=CLS,
                sep_token_id=SEP)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        pack_dataset(ds, **args)


@pytest.mark.parametrize(
    "dataset",
    [
        [[5, 6]],
        tf.data.Dataset.from_tensors(tf.constant([[5, 6]])),
        tf.data.Dataset.from_tensors(tf.ragged.constant([[0.5, 1.0]])),
    ],
)
def test_bad_dataset(dataset):
    with pytest.raises(TypeError, match="`dataset`"):
        pack_dataset(dataset, sequence_length=8, batch_size=2,
                     cls_token_id=CLS, sep_token_id=SEP)
