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


@pytest.fixture
def lambda_model_file(tmp_path):
    """A `.keras` file whose loading would run a stored Python lambda."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2.0)])
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    return path


def test_a_keras_file_with_a_lambda_is_refused_in_safe_mode(lambda_model_file):
    with pytest.raises(ValueError, match=r"Refused to load .*lambda\.keras.*Keras safe mode "
                                         r"forbids\. If you trust the file, pass "
                                         r"--unsafe_deserialization"):
        kerasft.load_model(lambda_model_file)
    loaded = kerasft.load_model(lambda_model_file, safe_mode=False)
    np.testing.assert_allclose(loaded(np.ones((1, 2), "float32")), [[2.0, 2.0]])


def test_process_wide_unsafe_mode_wins_over_the_explicit_safe_mode(lambda_model_file):
    # What `--unsafe_deserialization` does in a binary; restored afterwards.
    from keras.src.backend.common import global_state

    import keras

    keras.config.enable_unsafe_deserialization()
    try:
        loaded = kerasft.load_model(lambda_model_file)  # passes safe_mode=True
    finally:
        global_state.set_global_attribute("safe_mode_saving", None)
    np.testing.assert_allclose(loaded(np.ones((1, 2), "float32")), [[2.0, 2.0]])
    with pytest.raises(ValueError, match="safe mode"):
        kerasft.load_model(lambda_model_file)
