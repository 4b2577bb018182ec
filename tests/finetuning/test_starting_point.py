"""Where fine-tuning starts: `init_model` keeps the source model's tokenizer."""

import numpy as np

import kerasft
from kerasft.finetuning.starting_point import load_init_model
from kerasft.tokenizers import SentencePiecePreprocessor, train_sentencepiece
from conftest import NEGATIVE, POSITIVE


def test_init_model_with_a_new_sequence_length_keeps_sentencepiece(tmp_path):
    # Regression: the preprocessor was rebuilt as WordPiece from the pieces.
    proto = train_sentencepiece([t.capitalize() for t in POSITIVE + NEGATIVE] * 5, 40)
    pre = SentencePiecePreprocessor(proto, sequence_length=12)
    backbone = kerasft.build_backbone(kerasft.BackboneConfig(
        vocabulary_size=pre.vocabulary_size, num_layers=1, num_heads=2,
        hidden_dim=8, intermediate_dim=16, max_sequence_length=16,
    ))
    model = kerasft.TaskModel(backbone, [kerasft.get_head("sentiment")(["neg", "pos"])], pre)
    model.save(tmp_path / "model.keras")

    _, loaded = load_init_model(str(tmp_path), sequence_length=16)

    assert isinstance(loaded, SentencePiecePreprocessor)
    assert loaded.sequence_length == 16 and loaded.proto == pre.proto
    text = ["A bad film .", "Loved this movie"]
    expected = SentencePiecePreprocessor(proto, sequence_length=16)(text)["token_ids"]
    np.testing.assert_array_equal(loaded(text)["token_ids"], expected)
    assert loaded(text)["token_ids"].shape[1] > 12  # the new length is used
