"""TaskModel: a backbone with heads as an ordinary Keras model."""

import numpy as np
import pytest

import kerasft


def test_fit_learns_the_tiny_task(trained_tiny_sentiment_model):
    pred = trained_tiny_sentiment_model.predict_text(
        ["the film is good", "an awful movie"]
    )
    assert pred["label"].tolist() == ["positive", "negative"]
    np.testing.assert_allclose(pred["probabilities"].sum(-1), 1.0, rtol=1e-5)


def test_keras_file_round_trip_predicts_the_same(trained_tiny_sentiment_model, tmp_path):
    path = str(tmp_path / "model.keras")
    trained_tiny_sentiment_model.save(path)
    loaded = kerasft.load_model(path)
    texts = ["the film is good", "boring , awful", "", "zebra"]
    a = trained_tiny_sentiment_model.predict_text(texts)
    b = loaded.predict_text(texts)
    np.testing.assert_array_equal(a["label"], b["label"])
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-6)
    assert loaded.preprocessor.vocabulary == trained_tiny_sentiment_model.preprocessor.vocabulary


def test_empty_string_has_a_defined_answer(trained_tiny_sentiment_model):
    pred = trained_tiny_sentiment_model.predict_text([""])
    assert pred["label"][0] in ("negative", "positive")
    assert np.isfinite(pred["probabilities"]).all()


def test_duplicate_head_names_are_rejected(tiny_backbone, tiny_preprocessor):
    head_cls = kerasft.get_head("sentiment")
    with pytest.raises(ValueError, match="Head names must be distinct"):
        kerasft.TaskModel(
            tiny_backbone, [head_cls(["a", "b"]), head_cls(["c", "d"])], tiny_preprocessor
        )


def test_unknown_head_lookup_lists_heads(tiny_sentiment_model):
    with pytest.raises(ValueError, match=r"No head named 'nope'. This model has: \['sentiment'\]"):
        tiny_sentiment_model.head("nope")
