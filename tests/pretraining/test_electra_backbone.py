"""An ELECTRA-pretrained backbone is an ordinary backbone: it passes the head
contract (build, one step, `.keras` round trip, export and serve) and
`kerasft-pretrain --objective=electra` writes what the MLM path writes."""

import json

import keras
import pytest
import tensorflow as tf

import kerasft
from conftest import NEGATIVE, POSITIVE, TINY_VOCAB, write_jsonl
from kerasft import testing
from kerasft.backbone import BackboneConfig, build_backbone, load_backbone, save_backbone
from kerasft.pretraining.loop import pretrain
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.tokenizers import TextPreprocessor


@pytest.fixture(scope="module")
def electra_backbone_dir(tmp_path_factory):
    keras.utils.set_random_seed(0)
    run_dir = tmp_path_factory.mktemp("electra_run")
    pre = TextPreprocessor(TINY_VOCAB, sequence_length=16)
    backbone = build_backbone(BackboneConfig(
        vocabulary_size=len(TINY_VOCAB), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, dropout=0.0, max_sequence_length=16,
    ))
    before = [w.numpy().copy() for w in backbone.weights]
    metrics = pretrain(
        backbone, pre, tf.data.Dataset.from_tensor_slices((POSITIVE + NEGATIVE) * 4),
        config=PretrainConfig(steps=4, batch_size=4, warmup_steps=1,
                              checkpoint_every=2, objective="electra",
                              learning_rate=1e-2),
        run_dir=str(run_dir), verbose=0,
        validation_texts=tf.data.Dataset.from_tensor_slices(POSITIVE),
    )
    # The discriminator trained (its weights moved) and is saved as usual.
    assert any((a != b.numpy()).any() for a, b in zip(before, backbone.weights))
    assert {"generator_accuracy", "discriminator_accuracy", "replaced_accuracy",
            "original_rate"} <= set(metrics["validation_after"])
    save_backbone(backbone, pre, run_dir / "backbone")
    return run_dir / "backbone"


@pytest.mark.large
def test_electra_backbone_passes_the_head_contract(electra_backbone_dir, tmp_path):
    backbone, pre = load_backbone(electra_backbone_dir)
    assert isinstance(backbone, kerasft.backbone.keras_hub.models.BertBackbone)
    head_cls = kerasft.get_head("sentiment")
    path = write_jsonl(
        tmp_path / "tiny.jsonl",
        [{"text": t, "label": "positive"} for t in POSITIVE]
        + [{"text": t, "label": "negative"} for t in NEGATIVE],
    )
    examples = head_cls.read_examples(path)
    model = testing.check_head_builds(head_cls, examples, pre, backbone)
    before, after = testing.check_one_step_lowers_loss(model, examples)
    assert after < before
    texts = POSITIVE[:3] + ["", "zebra quagga"]
    loaded = testing.check_keras_round_trip(model, texts, tmp_path)
    result = testing.check_export_and_serve({"electra": loaded}, texts, tmp_path / "export")
    assert result["electra"]["ok"], result["electra"]["failures"]


@pytest.mark.large
def test_cli_electra_objective_writes_backbone_and_quality_figures(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join((POSITIVE + NEGATIVE) * 8) + "\n")
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "kerasft.cli.pretrain", f"--corpus={corpus}",
         f"--output_dir={out}", "--objective=electra", "--vocabulary_size=60",
         "--sequence_length=16", "--num_layers=1", "--hidden_dim=32",
         "--num_heads=2", "--intermediate_dim=64", "--steps=4", "--batch_size=4",
         "--warmup_steps=1", "--checkpoint_every=2", "--validation_documents=8",
         "--noprogress"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replaced-token detection accuracy" in proc.stdout
    assert "Warning: The backbone has barely learned" in proc.stdout
    # Keras's expected notices stay out of the CLI's output.
    assert "Gradients do not exist" not in proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["objective"] == "electra" and metrics["tokens_seen"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["objective"] == "electra"
    assert (out / "backbone" / "config.json").is_file()
    assert (out / "loss_curve.png").is_file()
    # No masked-LM head for a discriminator: fill_mask export says why.
    assert not (out / "masked_lm_head.npz").exists()
    from kerasft.export.fill_mask import export_fill_mask

    with pytest.raises(ValueError, match="objective=electra.*discriminator"):
        export_fill_mask(out, tmp_path / "saved_models")
