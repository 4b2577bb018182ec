"""`--precision=mixed_bfloat16`: pretraining and fine-tuning in bfloat16, float32 exports."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasft
from kerasft.backbone import load_backbone
from kerasft.export.fill_mask import export_fill_mask
from kerasft.export.saved_model import export_model
from kerasft.finetuning.config import FinetuneConfig
from kerasft.finetuning.trainer import finetune
from kerasft.precision import current_precision, use_precision
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.pretraining.run import PretrainRunConfig, run_pretraining


def test_unknown_precisions_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"`precision` must be one of \('float32', 'mixed_bfloat16'\)"):
        PretrainConfig(precision="mixed_float16")
    with pytest.raises(ValueError, match="`precision` must be one of"):
        FinetuneConfig(train="t", validation="v", precision="bfloat16")
    with pytest.raises(ValueError, match="needs loss scaling"), use_precision("mixed_float16"):
        pass
    assert current_precision() == "float32"


def test_the_policy_is_restored_after_an_error():
    with pytest.raises(RuntimeError), use_precision("mixed_bfloat16"):
        assert keras.layers.Dense(1).compute_dtype == "bfloat16"
        raise RuntimeError
    assert current_precision() == "float32"


@pytest.mark.large
@pytest.mark.parametrize("objective", ["mlm", "electra"])
def test_bfloat16_pretraining_then_fine_tuning_and_a_float32_export(
        objective, tmp_path, tiny_sentiment_files):
    run_dir = tmp_path / "pretrain"
    metrics = run_pretraining(
        PretrainRunConfig(labelled_data=str(tmp_path), vocabulary_size=60, sequence_length=16,
                          num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
                          validation_documents=4),
        PretrainConfig(steps=4, batch_size=4, warmup_steps=1, checkpoint_every=2,
                       objective=objective, precision="mixed_bfloat16"),
        str(run_dir), verbose=0)
    assert current_precision() == "float32"  # restored after the run
    assert json.loads((run_dir / "config.json").read_text())["train"]["precision"] == (
        "mixed_bfloat16")
    after = metrics["validation_after"]
    assert all(np.isfinite(v) for v in after.values() if isinstance(v, float)), after

    # The saved backbone loads in whatever precision is current; same weights.
    as_float32, _ = load_backbone(run_dir / "backbone")
    with use_precision("mixed_bfloat16"):
        as_bf16, _ = load_backbone(run_dir / "backbone")
    assert as_float32.dtype_policy.name == "float32"
    assert as_bf16.dtype_policy.name == "mixed_bfloat16"
    for a, b in zip(as_float32.weights, as_bf16.weights):
        assert a.dtype == b.dtype == "float32"
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    if objective == "electra":
        # The discriminator is saved as the same `BertBackbone` as an MLM
        # run's, so the bfloat16 fine-tuning and export below (the costly
        # part) would repeat the MLM case's path exactly.
        return
    # The fill_mask export of a bfloat16-trained run.
    path = export_fill_mask(run_dir, tmp_path / "fill_mask_models", top_k=2)
    out = tf.saved_model.load(str(path)).signatures["fill_mask"](
        text=tf.constant(["the [MASK] is good"]))
    assert out["scores"].dtype == tf.float32

    ft_dir = tmp_path / "finetune"
    ft = finetune(FinetuneConfig(
        train=str(tiny_sentiment_files["train"]), validation=str(tiny_sentiment_files["validation"]),
        backbone=str(run_dir / "backbone"), sequence_length=16, epochs=1, batch_size=8,
        precision="mixed_bfloat16"), str(ft_dir), verbose=0)
    assert current_precision() == "float32"
    assert json.loads((ft_dir / "config.json").read_text())["precision"] == "mixed_bfloat16"
    assert 0.0 <= ft["validation"]["accuracy"] <= 1.0
    model = kerasft.load_model(str(ft_dir / "model.keras"))
    assert model.backbone.compute_dtype == "bfloat16"
    # The export passes the TF Serving checks (op allow-list, warmup) in a
    # fresh process and serves float32, though the model computes in bfloat16.
    version = export_model(model, tmp_path / "saved_models", "sentiment")
    outputs = tf.saved_model.load(str(version)).signatures["serving_default"](
        text=tf.constant(["the film is good", ""]))
    assert outputs["probabilities"].dtype == outputs["score"].dtype == tf.float32
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
