"""Tests for TF Serving warmup request files."""

import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from kerasft.export import warmup


@pytest.fixture
def saved_model_dir(tmp_path):
    # The writer only needs a directory that looks like a SavedModel.
    (tmp_path / "saved_model.pb").write_bytes(b"fake")
    return tmp_path


def raw_records(path):
    return [
        prediction_log_pb2.PredictionLog.FromString(r.numpy())
        for r in tf.data.TFRecordDataset(str(path))
    ]


def test_round_trip(saved_model_dir):
    requests = {
        "serving_default": [["a great film"], ["bof", "Zoë's café 東京"]],
        "ner": [["Barack Obama visited Paris."]],
    }
    path = warmup.write_warmup_requests(saved_model_dir, requests)
    assert path == saved_model_dir / "assets.extra" / "tf_serving_warmup_requests"
    expected = [
        ("serving_default", ["a great film"]),
        ("serving_default", ["bof", "Zoë's café 東京"]),
        ("ner", ["Barack Obama visited Paris."]),
    ]
    assert warmup.read_warmup_requests(path) == expected
    assert warmup.read_warmup_requests(saved_model_dir) == expected


def test_records_are_predict_logs_as_tf_serving_reads_them(saved_model_dir):
    path = warmup.write_warmup_requests(
        saved_model_dir, {"ner": [["one", "two", "three"]]}
    )
    (log,) = raw_records(path)
    assert log.WhichOneof("log_type") == "predict_log"
    request = log.predict_log.request
    assert request.model_spec.signature_name == "ner"
    assert list(request.inputs) == ["text"]
    tensor = request.inputs["text"]
    assert tensor.dtype == tf.string.as_datatype_enum
    assert [d.size for d in tensor.tensor_shape.dim] == [3]
    assert tensor.string_val == [b"one", b"two", b"three"]


def test_rewriting_replaces_the_file(saved_model_dir):
    warmup.write_warmup_requests(saved_model_dir, {"a": [["x"]] * 3})
    warmup.write_warmup_requests(saved_model_dir, {"b": [["y"]]})
    assert warmup.read_warmup_requests(saved_model_dir) == [("b", ["y"])]


def test_custom_input_name(saved_model_dir):
    warmup.write_warmup_requests(
        saved_model_dir, {"serving_default": [["x"]]}, input_name="sentence"
    )
    assert warmup.read_warmup_requests(saved_model_dir, input_name="sentence") == [
        ("serving_default", ["x"])
    ]
    with pytest.raises(ValueError, match="no input 'text'"):
        warmup.read_warmup_requests(saved_model_dir)


def test_at_most_1000_records(saved_model_dir):
    batches = [["text"]] * 1000
    warmup.write_warmup_requests(saved_model_dir, {"serving_default": batches})
    assert len(warmup.read_warmup_requests(saved_model_dir)) == 1000
    with pytest.raises(ValueError, match="at most 1000 warmup records"):
        warmup.write_warmup_requests(
            saved_model_dir, {"serving_default": batches, "ner": [["x"]]}
        )


@pytest.mark.parametrize(
    "requests, match",
    [
        ({}, "`requests` must be a non-empty dict"),
        ([["x"]], "`requests` must be a non-empty dict"),
        ({"serving_default": "a text"}, "must be a list of text batches"),
        ({"serving_default": ["a text"]}, "non-empty list of str"),
        ({"serving_default": [[]]}, "non-empty list of str"),
        ({"serving_default": [[b"bytes"]]}, "non-empty list of str"),
        ({"": [["x"]]}, "keys must be signature names"),
    ],
)
def test_rejects_malformed_requests(saved_model_dir, requests, match):
    with pytest.raises(TypeError, match=match):
        warmup.write_warmup_requests(saved_model_dir, requests)
    assert not warmup.warmup_file(saved_model_dir).exists()


def test_requires_a_saved_model_dir(tmp_path):
    with pytest.raises(ValueError, match="must be a SavedModel directory"):
        warmup.write_warmup_requests(tmp_path, {"serving_default": [["x"]]})
    with pytest.raises(ValueError, match="No warmup file"):
        warmup.read_warmup_requests(tmp_path)
