"""`finetune(resume=True)` continues an interrupted run from its last epoch checkpoint."""

import json

import pytest

from kerasft import checkpoints
from kerasft.finetuning.config import FinetuneConfig
from kerasft.finetuning.trainer import finetune


class Interrupted(Exception):
    pass


def _config(files, **overrides):
    settings = dict(
        train=str(files["train"]), validation=str(files["validation"]),
        vocabulary_size=100, sequence_length=16, num_layers=1, num_heads=2,
        hidden_dim=16, intermediate_dim=32, dropout=0.0, epochs=4, patience=10,
        batch_size=8, learning_rate=1e-3,
    )
    settings.update(overrides)
    return FinetuneConfig(**settings)


@pytest.mark.large
def test_an_interrupted_run_resumes_after_its_last_epoch(
        tmp_path, tiny_sentiment_files, monkeypatch):
    config = _config(tiny_sentiment_files)
    save = checkpoints.Checkpointer.on_epoch_end

    def crash_after_epoch_2(self, epoch, logs=None):
        save(self, epoch, logs)
        if epoch + 1 == 2:
            raise Interrupted

    monkeypatch.setattr(checkpoints.Checkpointer, "on_epoch_end", crash_after_epoch_2)
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        finetune(config, str(run_dir), verbose=0)
    assert not (run_dir / "metrics.json").exists()
    newest = checkpoints.latest_checkpoint(str(run_dir / "backup"))
    assert newest.state["epoch"] == 2 and newest.arrays("best_weights")
    losses_before = newest.state["history"]["loss"]

    monkeypatch.setattr(checkpoints.Checkpointer, "on_epoch_end", save)
    metrics = finetune(config, str(run_dir), verbose=0, resume=True)
    assert metrics["resumed_from_epoch"] == 2 and metrics["epochs_run"] == 4
    history = json.loads((run_dir / "history.json").read_text())
    assert history["loss"][:2] == losses_before and len(history["loss"]) == 4
    assert history["stage"] == [1, 1, 1, 1]
    assert (run_dir / "model.keras").is_file()
    assert checkpoints.latest_checkpoint(str(run_dir / "backup")).state["epoch"] == 4

    # Without --resume the same directory starts over.
    metrics = finetune(_config(tiny_sentiment_files, epochs=1), str(run_dir),
                       verbose=0)
    assert metrics["resumed_from_epoch"] == 0 and metrics["epochs_run"] == 1


def test_resume_of_a_multi_stage_strategy_is_a_clear_error(tmp_path, tiny_sentiment_files):
    config = _config(tiny_sentiment_files, strategy="two_stage")
    with pytest.raises(ValueError, match="received strategy='two_stage'.*without --resume"):
        finetune(config, str(tmp_path / "run"), resume=True)
