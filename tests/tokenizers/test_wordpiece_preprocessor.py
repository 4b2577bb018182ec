"""TextPreprocessor: the one tokenizer for training and serving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasft.tokenizers import TextPreprocessor


def test_packs_cls_sep_and_pads_to_longest(tiny_preprocessor, tiny_vocab):
    out = tiny_preprocessor(tf.constant(["the film", "a good movie !", ""]))
    ids = out["token_ids"].numpy()
    idx = {t: i for i, t in enumerate(tiny_vocab)}
    assert ids.shape == (3, 6)  # longest: [CLS] a good movie ! [SEP]
    assert ids[0].tolist() == [idx["[CLS]"], idx["the"], idx["film"], idx["[SEP]"], 0, 0]
    assert ids[2].tolist()[:2] == [idx["[CLS]"], idx["[SEP]"]]
    assert out["padding_mask"].numpy().sum(axis=1).tolist() == [4, 6, 2]
    assert out["segment_ids"].numpy().max() == 0


def test_lowercases_and_splits_punctuation(tiny_preprocessor, tiny_vocab):
    ids = tiny_preprocessor(["The FILM!"])["token_ids"].numpy()[0].tolist()
    idx = {t: i for i, t in enumerate(tiny_vocab)}
    assert ids == [idx["[CLS]"], idx["the"], idx["film"], idx["!"], idx["[SEP]"]]


def test_unknown_words_map_to_unk(tiny_preprocessor, tiny_vocab):
    ids = tiny_preprocessor(["zebra"])["token_ids"].numpy()[0].tolist()
    assert ids[1] == tiny_vocab.index("[UNK]")


def test_truncates_to_sequence_length(tiny_vocab):
    pre = TextPreprocessor(tiny_vocab, sequence_length=5)
    out = pre(["the film is very good and fun"])
    ids = out["token_ids"].numpy()[0].tolist()
    assert len(ids) == 5
    assert ids[0] == tiny_vocab.index("[CLS]") and ids[-1] == tiny_vocab.index("[SEP]")


def test_pad_to_longest_matches_fixed_padding(tiny_vocab):
    texts = ["the film", "a good movie !", "it was not fun at all"]
    short = TextPreprocessor(tiny_vocab, sequence_length=16)(texts)
    fixed = TextPreprocessor(tiny_vocab, sequence_length=16, pad_to_longest=False)(texts)
    width = short["token_ids"].shape[1]
    assert fixed["token_ids"].shape == (3, 16)
    np.testing.assert_array_equal(fixed["token_ids"].numpy()[:, :width], short["token_ids"])
    assert fixed["token_ids"].numpy()[:, width:].max() == 0


def test_works_inside_tf_data(tiny_preprocessor):
    ds = tf.data.Dataset.from_tensor_slices(["the film", "fun"]).batch(2).map(tiny_preprocessor)
    batch = next(iter(ds))
    assert batch["token_ids"].shape[0] == 2


def test_config_round_trip(tiny_preprocessor):
    clone = TextPreprocessor.from_config(tiny_preprocessor.get_config())
    texts = ["the film was great !", "bad"]
    np.testing.assert_array_equal(
        clone(texts)["token_ids"], tiny_preprocessor(texts)["token_ids"]
    )


def test_missing_special_tokens_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Missing: \['\[MASK\]'\]"):
        TextPreprocessor(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])


def test_missing_vocabulary_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="Vocabulary file not found"):
        TextPreprocessor(str(tmp_path / "nope.txt"))


def test_bad_sequence_length_is_a_clear_error(tiny_vocab):
    with pytest.raises(ValueError, match="sequence_length"):
        TextPreprocessor(tiny_vocab, sequence_length=2)


def test_configs_saved_before_the_package_split_still_load(tiny_preprocessor, tiny_vocab):
    # `.keras` files written when the layer lived in the `kerasft.tokenizers`
    # module record that module; Keras finds the class by registered name.
    assert keras.saving.get_registered_name(TextPreprocessor) == "kerasft>TextPreprocessor"
    config = keras.saving.serialize_keras_object(tiny_preprocessor)
    config["module"] = "kerasft.tokenizers"
    clone = keras.saving.deserialize_keras_object(config)
    assert isinstance(clone, TextPreprocessor) and clone.vocabulary == tiny_vocab


@pytest.mark.parametrize("pad_to_longest", [True, False])
def test_eager_rows_padded_in_numpy_equal_the_layer(tiny_vocab, pad_to_longest):
    # Training pipelines use encode_rows + pad_rows; serving uses the layer.
    pre = TextPreprocessor(tiny_vocab, sequence_length=6, pad_to_longest=pad_to_longest)
    texts = ["the film is good , great fun and wonderful", "", "bad", "xyz movie"]
    expected = pre(tf.constant(texts))
    got = pre.pad_rows(pre.encode_rows(texts, chunk_size=3))
    assert set(got) == set(expected)
    for key in expected:
        assert got[key].dtype == expected[key].numpy().dtype, key
        np.testing.assert_array_equal(got[key], expected[key].numpy(), err_msg=key)
