"""SentencePiece training, its preprocessing layer, and SentencePiece backbones."""

import json

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from conftest import NEGATIVE, POSITIVE
from kerasft.backbone import BackboneConfig, build_backbone, load_backbone, save_backbone
from kerasft.tokenizers import (
    SPECIAL_TOKENS,
    SentencePiecePreprocessor,
    train_sentencepiece,
)

CORPUS = [t.capitalize() for t in POSITIVE + NEGATIVE] * 5


@pytest.fixture(scope="module")
def proto():
    return train_sentencepiece(CORPUS, 40)


def test_trained_model_has_bert_special_tokens_and_the_asked_size(proto):
    pre = SentencePiecePreprocessor(proto, sequence_length=12)
    assert pre.vocabulary_size == 40
    assert pre.vocabulary[:4] == list(SPECIAL_TOKENS[:4])
    assert pre.special_token_ids == [0, 1, 2, 3, 39] and pre.lowercase


def test_same_outputs_and_interface_as_the_wordpiece_layer(proto):
    pre = SentencePiecePreprocessor(proto, sequence_length=8)
    out = pre(tf.constant(["The film is good", "", "a great movie , wonderful acting"]))
    ids, mask = out["token_ids"].numpy(), out["padding_mask"].numpy()
    assert set(out) == {"token_ids", "segment_ids", "padding_mask"}
    assert ids.shape == (3, 8) and ids[:, 0].tolist() == [2, 2, 2]
    assert ids[1, :2].tolist() == [2, 3] and mask.sum(1)[1] == 2
    assert (ids[~mask] == 0).all() and (out["segment_ids"].numpy() == 0).all()
    # Lowercasing is the model's own normalization.
    np.testing.assert_array_equal(
        pre.tokenize(tf.constant(["THE FILM"])).to_list(),
        pre.tokenize(tf.constant(["the film"])).to_list(),
    )


def test_eager_rows_padded_in_numpy_equal_the_layer(proto):
    pre = SentencePiecePreprocessor(proto, sequence_length=8)
    texts = ["The film is good", "", "a great movie , wonderful acting"]
    expected = pre(tf.constant(texts))
    got = pre.pad_rows(pre.encode_rows(texts))
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key].numpy(), err_msg=key)


def test_words_group_pieces_at_word_boundaries(proto):
    pre = SentencePiecePreprocessor(proto)
    text = tf.constant(["wonderfully boring acting", ""])
    words = pre.tokenize_words(text)
    assert words.shape.rank == 3 and words.to_list()[1] == []
    assert len(words.to_list()[0]) == 3
    assert words.merge_dims(1, 2).to_list() == pre.tokenize(text).to_list()
    pieces, starts, ends = pre.tokenize_with_offsets(text)
    assert pieces.to_list() == words.to_list() and starts.shape.rank == 3


def test_config_round_trip_keeps_the_model(proto, tmp_path):
    pre = SentencePiecePreprocessor(proto, sequence_length=10, pad_to_longest=False)
    config = json.loads(json.dumps(pre.get_config()))
    again = SentencePiecePreprocessor.from_config(config)
    text = tf.constant(["it was not fun"])
    np.testing.assert_array_equal(again(text)["token_ids"], pre(text)["token_ids"])
    assert again.sequence_length == 10 and again.pad_to_longest is False
    path = tmp_path / "m.spm"
    path.write_bytes(proto)
    assert SentencePiecePreprocessor(str(path)).vocabulary == pre.vocabulary


def test_bad_inputs_are_clear_errors(proto):
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        SentencePiecePreprocessor(b"not a proto")
    with pytest.raises(ValueError, match="`vocabulary_size` must be an int"):
        train_sentencepiece(CORPUS, 3)


def test_backbone_directory_keeps_the_sentencepiece_tokenizer(proto, tmp_path):
    pre = SentencePiecePreprocessor(proto, sequence_length=12)
    backbone = build_backbone(BackboneConfig(
        vocabulary_size=pre.vocabulary_size, num_layers=1, num_heads=2,
        hidden_dim=8, intermediate_dim=16, max_sequence_length=12,
    ))
    save_backbone(backbone, pre, tmp_path / "bb")
    loaded, loaded_pre = load_backbone(tmp_path / "bb")
    assert isinstance(loaded_pre, SentencePiecePreprocessor)
    assert loaded_pre.proto == pre.proto and loaded_pre.sequence_length == 12
    text = tf.constant(["a bad film ."])
    np.testing.assert_allclose(
        loaded(loaded_pre(text))["sequence_output"],
        backbone(pre(text))["sequence_output"], atol=1e-6,
    )
    # keras-hub's own preset files: its SentencePieceTokenizer and the model.
    config = json.loads((tmp_path / "bb" / "tokenizer.json").read_text())
    assert config["class_name"] == "SentencePieceTokenizer"
    assert (tmp_path / "bb/assets/tokenizer/vocabulary.spm").read_bytes() == proto
    assert keras_hub.models.BertBackbone.from_preset(str(tmp_path / "bb")).vocabulary_size == 40
