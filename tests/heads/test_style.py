"""The style heads: single-label on the shared Shakespeare data, multi-label thresholds."""

import pytest

import kerasft
from conftest import STYLE_DIR, TINY_VOCAB, write_jsonl


def test_style_is_single_label_on_the_shared_data():
    head_cls = kerasft.get_head("style")
    assert issubclass(head_cls, kerasft.ClassificationHead)
    examples = head_cls.read_examples(STYLE_DIR / "validation.jsonl")
    assert head_cls.labels_from_examples(examples) == ["modern", "shakespeare"]


def test_style_points_multi_label_files_to_style_multilabel(tmp_path):
    path = write_jsonl(tmp_path / "ml.jsonl", [{"text": "thou art", "labels": ["archaic"]}])
    with pytest.raises(ValueError, match="--head=style_multilabel") as info:
        kerasft.get_head("style").read_examples(path)
    assert "line 1" in str(info.value)


def test_style_multilabel_keras_round_trip_restores_tuned_thresholds(tmp_path):
    from kerasft.head import MultiLabelClassificationHead

    head_cls = kerasft.get_head("style_multilabel")
    assert issubclass(head_cls, MultiLabelClassificationHead)
    pre = kerasft.TextPreprocessor(TINY_VOCAB, sequence_length=8)
    backbone = kerasft.build_backbone(kerasft.BackboneConfig(
        vocabulary_size=len(TINY_VOCAB), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8))
    head = head_cls(["archaic", "question"], pooling="mean")
    model = kerasft.TaskModel(backbone, [head], pre)
    head.thresholds = [0.123, 0.877]  # as `calibrate` leaves them
    model.save(tmp_path / "m.keras")
    loaded = kerasft.load_model(str(tmp_path / "m.keras"), compile=False)
    assert loaded.head("style_multilabel").thresholds == [0.123, 0.877]
    assert loaded.predict_text(["the film"], head="style_multilabel")["labels"].shape == (1, 2)
