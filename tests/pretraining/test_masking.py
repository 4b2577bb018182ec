"""Tests for `kerasft.pretraining.masking`."""

import functools

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from kerasft.pretraining.masking import mask_tokens, masked_lm_example
from kerasft.pretraining.packing import pack_dataset

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIAL = [PAD, UNK, CLS, SEP, MASK]
VOCABULARY_SIZE = 1000
SEQUENCE_LENGTH = 64
MAX_SELECTIONS = 12  # above round(0.15 * 62): the cap never binds here.
NUM_SEQUENCES = 2000

WORDS = {
    "unbelievable": ["un", "##believ", "##able"],
    "unwatchable": ["un", "##watch", "##able"],
    "films": ["film", "##s"],
    "film": ["film"],
    "good": ["good"],
    "bad": ["bad"],
    "the": ["the"],
    "plot": ["plot"],
    "acting": ["act", "##ing"],
    "was": ["was"],
}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(
    {p for pieces in WORDS.values() for p in pieces}
)


@pytest.fixture
def dense_batch():
    """2,000 `[CLS] tokens [SEP]` rows of 10-62 ids, padded to 64."""
    rng = np.random.default_rng(0)
    batch = np.full((NUM_SEQUENCES, SEQUENCE_LENGTH), PAD, np.int32)
    lengths = rng.integers(10, SEQUENCE_LENGTH - 1, size=NUM_SEQUENCES)
    for row, n in zip(batch, lengths):
        row[0] = CLS
        row[1:n + 1] = rng.integers(5, VOCABULARY_SIZE, size=n)
        row[n + 1] = SEP
    return batch, lengths


@pytest.fixture
def word_batch():
    """2,000 tokenized sentences as `[batch, (words), (pieces)]`, framed
    by one-piece `[CLS]` and `[SEP]` words."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            VOCAB, tf.range(len(VOCAB), dtype=tf.int64)
        ),
        default_value=UNK,
    )
    tokenizer = tf_text.BertTokenizer(table, token_out_type=tf.int64)
    rng = np.random.default_rng(1)
    names = sorted(WORDS)
    texts = [
        " ".join(rng.choice(names, size=int(rng.integers(3, 30))))
        for _ in range(NUM_SEQUENCES)
    ]
    words = tokenizer.tokenize(texts)
    frame = tf.RaggedTensor.from_tensor(
        tf.fill([NUM_SEQUENCES, 1, 1], tf.constant(CLS, tf.int64))
    )
    end = tf.RaggedTensor.from_tensor(
        tf.fill([NUM_SEQUENCES, 1, 1], tf.constant(SEP, tf.int64))
    )
    return tf.concat([frame, words, end], axis=1)


def _mask_kwargs(**overrides):
    kwargs = dict(
        vocabulary_size=VOCABULARY_SIZE,
        mask_token_id=MASK,
        unselectable_token_ids=SPECIAL,
        max_selections=MAX_SELECTIONS,
        seed=42,
    )
    kwargs.update(overrides)
    return kwargs


def _mask_in_tf_data(token_ids, batch_size=500, **kwargs):
    """Runs `mask_tokens` in a graph-mode `tf.data` map, as in training."""
    ds = tf.data.Dataset.from_tensor_slices(token_ids).batch(batch_size)
    ds = ds.map(lambda ids: mask_tokens(ids, **kwargs))
    outputs = [
        {k: v.to_list() if isinstance(v, tf.RaggedTensor) else v.numpy()
         for k, v in out.items()}
        for out in ds
    ]
    return {
        k: (sum((o[k] for o in outputs), []) if isinstance(outputs[0][k], list)
            else np.concatenate([o[k] for o in outputs]))
        for k in outputs[0]
    }


def test_sub_word_selection_rate_and_80_10_10(dense_batch):
    batch, lengths = dense_batch
    out = _mask_in_tf_data(batch, **_mask_kwargs())
    positions = out["mask_positions"]
    weights = out["mask_weights"].astype(bool)
    assert out["token_ids"].shape == batch.shape
    assert positions.shape == (NUM_SEQUENCES, MAX_SELECTIONS)

    # Each row gets exactly round(15% of its selectable tokens) (half up,
    # at least one), so the overall rate is 15% up to rounding: the mean
    # rounding error over 2,000 rows is far below the 0.005 allowed.
    budget = np.maximum(1, np.floor(lengths * 0.15 + 0.5))
    np.testing.assert_array_equal(weights.sum(1), budget)
    assert abs(weights.sum() / lengths.sum() - 0.15) < 0.005
    # Selections come first, padding after.
    assert (weights[:, :-1] >= weights[:, 1:]).all()
    assert (positions[~weights] == 0).all()
    assert (out["mask_ids"][~weights] == 0).all()

    rows = np.repeat(np.arange(NUM_SEQUENCES)[:, None], MAX_SELECTIONS, 1)
    original = batch[rows[weights], positions[weights]]
    # Labels are the original ids; [CLS], [SEP] and padding never selected.
    np.testing.assert_array_equal(out["mask_ids"][weights], original)
    assert not np.isin(original, SPECIAL).any()
    for row, n in zip(positions, weights.sum(1)):
        assert len(set(row[:n])) == n

    # Outside the selections nothing changes.
    selected = np.zeros(batch.shape, bool)
    selected[rows[weights], positions[weights]] = True
    np.testing.assert_array_equal(out["token_ids"][~selected],
                                  batch[~selected])

    # ~10,000 selections: a proportion's std is at most 0.005, so the
    # tolerances below are 4-5 standard deviations.
    new = out["token_ids"][rows[weights], positions[weights]]
    assert abs(np.mean(new == MASK) - 0.8) < 0.02
    assert abs(np.mean(new == original) - 0.1) < 0.015
    random = (new != MASK) & (new != original)
    assert abs(np.mean(random) - 0.1) < 0.015
    assert (new >= 0).all() and (new < VOCABULARY_SIZE).all()


def test_whole_word_masks_all_pieces_of_a_word_or_none(word_batch):
    out = _mask_in_tf_data(word_batch, **_mask_kwargs(whole_word=True))
    word_lengths = word_batch.row_lengths(axis=2).to_list()
    flat_ids = word_batch.merge_dims(1, 2).to_list()
    weights = out["mask_weights"].astype(bool)

    multi_piece_words_masked = 0
    total_selected = total_selectable = 0
    for row in range(NUM_SEQUENCES):
        chosen = set(out["mask_positions"][row][weights[row]].tolist())
        assert len(chosen) == weights[row].sum()
        selectable = sum(word_lengths[row][1:-1])
        budget = max(1, int(np.floor(selectable * 0.15 + 0.5)))
        left_out = []
        start = 0
        for length in word_lengths[row]:
            span = set(range(start, start + length))
            hit = len(span & chosen)
            assert hit in (0, length), "a word was partly masked"
            if hit and length > 1:
                multi_piece_words_masked += 1
            if not hit and start not in (0, len(flat_ids[row]) - 1):
                left_out.append(length)
            start += length
        assert 0 not in chosen and len(flat_ids[row]) - 1 not in chosen
        # Within budget, and no left-out word would still have fitted.
        assert len(chosen) <= budget
        assert all(length > budget - len(chosen) for length in left_out)
        total_selected += len(chosen)
        total_selectable += selectable
        # Labels are the original pieces.
        np.testing.assert_array_equal(
            out["mask_ids"][row][weights[row]],
            np.array(flat_ids[row])[sorted(chosen)],
        )
    assert multi_piece_words_masked > 1000
    # Rounding the budget half up (and to at least one piece) adds up to
    # half a piece per row, whole words can leave it a piece or two short:
    # ~3 pieces a row of ~25 allows about +-0.02 around 15%.
    assert abs(total_selected / total_selectable - 0.15) < 0.02


def test_max_selections_caps_and_pads():
    ids = tf.ragged.constant(
        [[CLS] + list(range(10, 40)) + [SEP], [CLS, 7, SEP]]
    )
    out = mask_tokens(ids, **_mask_kwargs(mask_selection_rate=0.5,
                                         max_selections=3))
    np.testing.assert_array_equal(out["mask_weights"], [[1, 1, 1], [1, 0, 0]])
    assert out["mask_positions"].numpy()[1].tolist() == [1, 0, 0]
    assert isinstance(out["token_ids"], tf.RaggedTensor)
    assert out["token_ids"].row_lengths().numpy().tolist() == [32, 3]


def test_whole_word_never_exceeds_max_selections(word_batch):
    out = mask_tokens(
        word_batch[:200],
        **_mask_kwargs(whole_word=True, mask_selection_rate=0.9,
                       max_selections=4),
    )
    weights = out["mask_weights"].numpy()
    assert weights.shape == (200, 4)
    assert (weights.sum(1) >= 2).all()  # at most 3 pieces a word


def test_same_seed_same_masks_in_tf_data(dense_batch):
    batch, _ = dense_batch
    first = _mask_in_tf_data(batch[:600], batch_size=200, **_mask_kwargs())
    second = _mask_in_tf_data(batch[:600], batch_size=200, **_mask_kwargs())
    other = _mask_in_tf_data(batch[:600], batch_size=200,
                             **_mask_kwargs(seed=7))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["mask_positions"], other["mask_positions"])


def test_masked_lm_example_on_packed_whole_words(word_batch):
    words = word_batch[:, 1:-1]  # raw documents: packing adds the framing
    docs = tf.data.Dataset.from_tensor_slices(words[:300]).batch(32)
    packed = pack_dataset(docs, sequence_length=32, batch_size=16,
                          cls_token_id=CLS, sep_token_id=SEP)
    ds = packed.map(
        lambda f: (f, masked_lm_example(
            f, **_mask_kwargs(whole_word=True, max_selections=8)))
    )
    for features, (x, y, weights) in ds.take(5):
        ids = features["token_ids"].numpy()
        word_ids = features["word_ids"].numpy()
        w = weights.numpy().astype(bool)
        positions = x["mask_positions"].numpy()
        for row in range(len(ids)):
            chosen = positions[row][w[row]]
            # Positions index the packed row; labels are its original ids.
            np.testing.assert_array_equal(y.numpy()[row][w[row]],
                                          ids[row][chosen])
            assert not np.isin(ids[row][chosen], SPECIAL).any()
            for word in set(word_ids[row][chosen]):
                assert set(np.flatnonzero(word_ids[row] == word)) <= set(chosen)
        np.testing.assert_array_equal(x["segment_ids"], features["segment_ids"])
        np.testing.assert_array_equal(x["padding_mask"],
                                      features["padding_mask"])


def test_bert_masked_lm_trains_on_packed_masked_batches():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    docs = tf.ragged.constant(
        [rng.integers(5, 50, size=int(n)).tolist()
         for n in rng.integers(1, 20, size=64)]
    )
    packed = pack_dataset(
        tf.data.Dataset.from_tensor_slices(docs).batch(16),
        sequence_length=16, batch_size=8, cls_token_id=CLS, sep_token_id=SEP,
        drop_remainder=True,
    )
    ds = packed.map(functools.partial(
        masked_lm_example, vocabulary_size=50, mask_token_id=MASK,
        unselectable_token_ids=SPECIAL, max_selections=4,
    ))
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=1, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=16,
    )
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    model.compile(optimizer="adam")
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        ({"mask_token_id": VOCABULARY_SIZE}, ValueError, "`mask_token_id`"),
        ({"vocabulary_size": 0}, ValueError, "`vocabulary_size`"),
        ({"mask_selection_rate": 1.5}, ValueError, "`mask_selection_rate`"),
        ({"mask_token_rate": 0.9, "random_token_rate": 0.2}, ValueError,
         "mask_token_rate \\+ random_token_rate"),
        ({"max_selections": 0}, ValueError, "`max_selections`"),
        ({"unselectable_token_ids": "0,2"}, TypeError,
         "`unselectable_token_ids`"),
        ({"whole_word": True}, ValueError, "`whole_word=True`"),
    ],
)
def test_bad_arguments(overrides, error, match):
    with pytest.raises(error, match=match):
        mask_tokens(tf.constant([[CLS, 5, SEP]]), **_mask_kwargs(**overrides))


def test_bad_token_ids():
    with pytest.raises(TypeError, match="`token_ids`"):
        mask_tokens(tf.constant([[0.5, 1.0]]), **_mask_kwargs())
    with pytest.raises(ValueError, match="`token_ids`"):
        mask_tokens(tf.constant([5, 6, 7]), **_mask_kwargs())
