"""Resume checkpoints: complete or absent, the newest two kept, a damaged newest skipped."""

import json
import os
import shutil

import keras
import pytest
import tensorflow as tf

from conftest import NEGATIVE, POSITIVE, TINY_VOCAB
from kerasft.backbone import BackboneConfig, build_backbone
from kerasft import checkpoints
from kerasft.pretraining.loop import pretrain
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.tokenizers import TextPreprocessor


def _run(run_dir, steps, resume):
    keras.utils.set_random_seed(0)
    pre = TextPreprocessor(TINY_VOCAB, sequence_length=16)
    backbone = build_backbone(BackboneConfig(
        vocabulary_size=len(TINY_VOCAB), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, dropout=0.0, max_sequence_length=16,
    ))
    config = PretrainConfig(steps=steps, batch_size=4, warmup_steps=1, decay_steps=8,
                            checkpoint_every=2)
    texts = tf.data.Dataset.from_tensor_slices(POSITIVE + NEGATIVE)
    return pretrain(backbone, pre, texts, config=config, run_dir=str(run_dir),
                    resume=resume, verbose=0)


def _names(backup):
    return sorted(n for n in os.listdir(backup))


def _damage(checkpoint, damage):
    weights = checkpoint / "masked_lm.weights.h5"
    if damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "altered weights":
        data = bytearray(weights.read_bytes())
        data[-100] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "broken state":
        (checkpoint / "state.json").write_text('{"step": 6, "epo')
    else:
        weights.unlink()


@pytest.mark.large
def test_a_damaged_newest_checkpoint_is_skipped_and_the_previous_one_used(
        tmp_path, warnings_logged):
    run_dir = tmp_path / "run"
    first = _run(run_dir, 6, False)
    # Three intervals of 2 steps: the first (tracing) is left out of the rate.
    history = json.loads((run_dir / "pretrain_history.json").read_text())
    rates = history["real_tokens_per_second"]
    assert len(rates) == 3 and min(rates) > 0
    assert first["real_tokens_per_second"] == round(sorted(rates[1:])[1], 1)
    backup = run_dir / "backup"
    # Steps 2, 4, 6 were checkpointed; the newest two are kept, no temporaries.
    assert _names(backup) == ["step-00000004", "step-00000006"]
    state = json.loads((backup / "step-00000006" / "state.json").read_text())
    assert state["step"] == 6 and len(state["weights_sha256"]) == 64
    assert len(state["history"]["loss"]) == 3
    assert checkpoints.latest_checkpoint(str(backup)).state["step"] == 6

    for damage in ("altered weights", "broken state", "missing weights"):
        copy = tmp_path / damage.replace(" ", "-")
        shutil.copytree(backup, copy)
        _damage(copy / "step-00000006", damage)
        assert checkpoints.latest_checkpoint(str(copy)).state["step"] == 4, damage
    assert len([m for m in warnings_logged if "damaged" in m]) == 3

    _damage(backup / "step-00000006", "truncated weights")
    metrics = _run(run_dir, 8, True)
    assert metrics["resumed_from_step"] == 4 and metrics["steps"] == 8
    message = [m for m in warnings_logged if "damaged" in m][-1]
    assert "step-00000006" in message and "does not match its SHA-256" in message
    assert "trying the one before it" in message
    # The history continues from the checkpoint used: steps 2, 4, then 6, 8.
    history = json.loads((run_dir / "pretrain_history.json").read_text())
    assert len(history["loss"]) == 4
    assert _names(backup) == ["step-00000006", "step-00000008"]


def test_no_sound_checkpoint_means_none(tmp_path, warnings_logged):
    backup = tmp_path / "backup"
    (backup / "step-00000002").mkdir(parents=True)
    (backup / "step-00000002" / "state.json").write_text("[]")
    (backup / ".tmp-123-step-00000004").mkdir()  # a write that never finished
    assert checkpoints.latest_checkpoint(str(backup)) is None
    assert checkpoints.latest_checkpoint(str(tmp_path / "absent")) is None
    assert len([m for m in warnings_logged if "damaged" in m]) == 1
