"""The multi-label head base: thresholds, targets, serving outputs, metrics."""

import json

import numpy as np
import pytest
import tensorflow as tf

from kerasft.data.jsonl import LabelledText
from kerasft.head import MultiLabelClassificationHead
from kerasft.metrics.multilabel import best_f1_threshold, multilabel_report


def _examples(*label_lists):
    return [LabelledText(f"text {i}", list(x), "mem.jsonl", i + 1)
            for i, x in enumerate(label_lists)]


def test_best_f1_threshold_cuts_between_classes_and_respects_ties():
    assert best_f1_threshold(np.array([0.9, 0.4, 0.3, 0.1]), np.array([1, 1, 0, 0])) == (0.35, 1.0)
    # Tied probabilities cannot be split: the cut falls below the whole tie.
    t, f1 = best_f1_threshold(np.array([0.8, 0.8, 0.2]), np.array([1, 0, 0]))
    assert t == pytest.approx(0.5) and f1 == pytest.approx(2 / 3)


def test_report_micro_macro_and_subset_accuracy():
    report = multilabel_report([[1, 0], [1, 1], [0, 0]], [[1, 0], [0, 1], [0, 1]], ["a", "b"])
    assert report["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert report["per_label"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert report["per_label"]["b"]["precision"] == 0.5
    assert report["subset_accuracy"] == pytest.approx(1 / 3)
    json.dumps(report)


def test_vocabulary_targets_and_unknown_label_error():
    train = _examples(["verse", "archaic"], [], ["archaic"])
    labels = MultiLabelClassificationHead.labels_from_examples(train)
    assert labels == ["archaic", "verse"]
    head = MultiLabelClassificationHead(labels)
    texts, targets = head.encode(train)
    np.testing.assert_array_equal(targets, [[1, 1], [0, 0], [1, 0]])
    with pytest.raises(ValueError, match=r"mem.jsonl, line 2: label 'prose' was never seen"):
        head.encode(_examples(["verse"], ["prose"]))
    with pytest.raises(ValueError, match="empty `labels` list"):
        MultiLabelClassificationHead.labels_from_examples(_examples([], []))


def test_reads_labels_lists_and_names_the_bad_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": "x"}\n')
    with pytest.raises(ValueError, match=r"line 2: 'labels' must be a list of strings"):
        MultiLabelClassificationHead.read_examples(path)


def test_thresholds_are_validated_and_round_trip_through_config():
    with pytest.raises(ValueError, match=r"`thresholds` must hold one value in \(0, 1\) per label"):
        MultiLabelClassificationHead(["a", "b"], thresholds=[0.5])
    head = MultiLabelClassificationHead(["a", "b"], pooling="mean", thresholds=[0.2, 0.9])
    config = head.get_config()
    assert config["thresholds"] == [0.2, 0.9]
    assert MultiLabelClassificationHead.from_config(config).get_config() == config


def test_postprocess_uses_per_label_thresholds_and_picks_the_top_active_label():
    head = MultiLabelClassificationHead(["a", "b", "c"], thresholds=[0.3, 0.5, 0.95])
    probs = np.array([[0.4, 0.6, 0.9], [0.1, 0.2, 0.3], [0.35, 0.1, 0.99]], "float32")
    out = head.postprocess(tf.constant(np.log(probs / (1 - probs))), {})
    np.testing.assert_array_equal(out["active"], [[1, 1, 0], [0, 0, 0], [1, 0, 1]])
    assert out["labels"].numpy().tolist() == [[b"a", b"b", b""], [b"", b"", b""], [b"a", b"", b"c"]]
    # Row 0: "c" is the most probable but below its threshold.
    assert out["label"].numpy().tolist() == [b"b", b"", b"c"]
    np.testing.assert_allclose(out["probabilities"], probs, atol=1e-6)
    assert out["active"].dtype == tf.int32


def test_calibrate_maximizes_validation_f1_and_evaluate_uses_it():
    head = MultiLabelClassificationHead(["a", "b"])
    targets = [np.array([[1, 0], [1, 0], [0, 0], [0, 0]], "float32")]
    probs = np.array([[0.3, 0.9], [0.25, 0.4], [0.1, 0.6], [0.05, 0.2]])
    logits = [np.log(probs / (1 - probs))]
    assert head.evaluate(targets, logits, [])["per_label"]["a"]["f1"] == 0.0
    tuned = head.calibrate(targets, logits, [])
    assert head.thresholds[0] == pytest.approx(0.175)
    assert tuned["thresholds"]["b"] == {"threshold": 0.5, "kept": "no positives"}
    report = head.evaluate(targets, logits, [])
    assert report["per_label"]["a"]["f1"] == 1.0
    assert report["thresholds"] == {"a": head.thresholds[0], "b": 0.5}
