"""Pretraining quality figures: the unigram baseline, the plateau warning and
the loss curve, in `metrics.json` and the CLI's output."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from conftest import NEGATIVE, POSITIVE, TINY_VOCAB
from kerasft.backbone import BackboneConfig, build_backbone
from kerasft.pretraining import quality
from kerasft.pretraining.loop import pretrain
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.tokenizers import TextPreprocessor


def test_unigram_baseline_matches_a_hand_computed_fixture():
    # Two rows (ids: 0 pad, 2 cls, 3 sep, 4 mask). Original text tokens:
    # row 0: 5 6 5 7, row 1: 5 6 (then padding).
    # Row 0 masks position 2 (shown as [MASK]) and 4 (shown as random 9);
    # row 1 masks position 2; its second mask slot is padding (weight 0).
    x = {
        "token_ids": np.array([[2, 5, 4, 5, 9, 3], [2, 5, 4, 3, 0, 0]]),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]),
        "mask_positions": np.array([[2, 4], [2, 0]]),
    }
    y = np.array([[6, 7], [6, 0]])
    w = np.array([[1.0, 1.0], [1.0, 0.0]])
    result = quality.unigram_baseline([(x, y, w)], vocabulary_size=10,
                                      special_token_ids=[0, 2, 3, 4])
    # Counts over the original text: 5 x3, 6 x2, 7 x1; add-one smoothed over
    # the three seen tokens: p(5)=4/9, p(6)=3/9, p(7)=2/9. Targets: 6, 7, 6.
    expected = -(2 * math.log(3 / 9) + math.log(2 / 9)) / 3
    assert result["loss"] == pytest.approx(expected, abs=1e-12)
    # The most frequent token (5) is never a target.
    assert result["accuracy"] == 0.0


def test_unigram_cross_entropy_weights_and_accuracy():
    result = quality.unigram_cross_entropy(
        np.array([0, 3, 1]), np.array([1, 2, 1]), weights=np.array([1, 1, 0])
    )
    assert result["loss"] == pytest.approx(-(math.log(4 / 6) + math.log(2 / 6)) / 2)
    assert result["accuracy"] == 0.5


@pytest.mark.parametrize("after, fires", [(5.0, True), (4.75, True), (4.69, False)])
def test_plateau_warning_threshold(after, fires):
    # Fires within 0.3 nats of the unigram loss (5.0) and above it.
    warning = quality.plateau_warning(after, unigram_loss=5.0)
    assert (warning is not None) == fires
    if fires:
        assert "barely learned" in warning and "--steps" in warning


def test_plateau_warning_says_above_when_worse_than_unigram():
    assert "is above" in quality.plateau_warning(6.0, unigram_loss=5.0)


def test_under_trained_run_warns_and_writes_quality_figures(tmp_path):
    pre = TextPreprocessor(TINY_VOCAB, sequence_length=16)
    backbone = build_backbone(BackboneConfig(
        vocabulary_size=len(TINY_VOCAB), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=16,
    ))
    texts = tf.data.Dataset.from_tensor_slices((POSITIVE + NEGATIVE) * 4)
    metrics = pretrain(
        backbone, pre, texts, run_dir=str(tmp_path), verbose=0,
        config=PretrainConfig(steps=2, batch_size=4, warmup_steps=1,
                              checkpoint_every=1),
        validation_texts=tf.data.Dataset.from_tensor_slices(POSITIVE + NEGATIVE),
    )
    assert "barely learned" in metrics["warning"]
    assert metrics["unigram"]["loss"] > 0
    # Two steps of 4 packed rows of 16, nearly all real tokens.
    assert 0 < metrics["tokens_seen"] <= 2 * 4 * 16
    png = tmp_path / quality.LOSS_CURVE_PNG
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = list((tmp_path / "tensorboard" / "held_out").glob("events.*"))
    assert events, "no held-out TensorBoard scalars"
    json.dumps(metrics)  # JSON-serializable as written to metrics.json
