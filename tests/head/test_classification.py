"""ClassificationHead: labels, encoding, postprocessing, config."""

import numpy as np
import pytest
import tensorflow as tf

from kerasft.data.jsonl import LabelledText
from kerasft.head import ClassificationHead


def test_label_unseen_in_train_names_file_and_line():
    head = ClassificationHead(["negative", "positive"])
    examples = [LabelledText("x", "neutral", "validation.jsonl", 7)]
    with pytest.raises(ValueError, match=r"validation.jsonl, line 7: label 'neutral' was never seen"):
        head.encode(examples)


def test_labels_from_examples_are_sorted_and_distinct():
    examples = [LabelledText("a", lab, "f", i) for i, lab in enumerate("bcab")]
    assert ClassificationHead.labels_from_examples(examples) == ["a", "b", "c"]


def test_postprocess_returns_string_labels_and_probabilities():
    head = ClassificationHead(["neg", "neu", "pos"])
    out = head.postprocess(tf.constant([[0.0, 0.0, 3.0], [2.0, 0.0, 0.0]]), {})
    assert [x.decode() for x in out["label"].numpy()] == ["pos", "neg"]
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out["score"], out["probabilities"].numpy().max(-1))


def test_config_round_trip():
    head = ClassificationHead(["a", "b"], pooling="mean", dropout=0.2, name="h")
    clone = ClassificationHead.from_config(head.get_config())
    assert (clone.labels, clone.pooling, clone.dropout, clone.name) == (["a", "b"], "mean", 0.2, "h")


def test_bad_pooling_and_labels():
    with pytest.raises(ValueError, match="`pooling` must be"):
        ClassificationHead(["a", "b"], pooling="max")
    with pytest.raises(ValueError, match="at least 2 classes"):
        ClassificationHead(["a"])


def test_evaluate_reports_accuracy_and_macro_f1():
    head = ClassificationHead(["neg", "pos"])
    report = head.evaluate([np.array([0, 1, 1])], [np.array([[2, 0], [0, 2], [2, 0]])], [])
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["confusion_matrix"] == [[1, 0], [1, 1]]
    assert report["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
