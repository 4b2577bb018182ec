"""Masked-LM pretraining of the backbone under plain `model.fit`.

Text -> `TextPreprocessor` -> dynamic masking (fresh masks every epoch, in
the `tf.data` pipeline) -> `keras_hub.models.BertMaskedLM` (its MLM head is
tied to the token embedding). Checkpoints are Keras `BackupAndRestore`
state, so `resume=True` continues with the optimizer state and step count.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time

import keras
import keras_hub
import tensorflow as tf
from absl import logging

from kerasft.tokenizers import TextPreprocessor

# Variables whose names contain these are never weight-decayed (BERT recipe).
NO_DECAY = ["bias", "layer_norm", "layernorm", "embeddings_layer_norm", "gamma", "beta"]


@dataclasses.dataclass
class PretrainConfig:
    """Hyper-parameters of one masked-LM pretraining run.

    Args:
        steps: optimizer steps in total (the budget).
        batch_size: sequences per step.
        learning_rate: peak learning rate (after warmup).
        warmup_steps: linear warmup; then linear decay to 0 at `steps`.
        weight_decay: AdamW decay (not applied to biases and LayerNorms).
        clipnorm: global gradient-norm clip.
        mask_rate: fraction of real tokens selected for prediction.
        checkpoint_every: steps between checkpoints (and progress epochs).
        max_seconds: optional wall-clock budget; training stops at the first
            checkpoint boundary after it.
        seed: seeds weights, shuffling and masking.
        jit_compile: XLA; off by default (measured slower on 2-core CPUs).
    """

    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 5e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    clipnorm: float = 1.0
    mask_rate: float = 0.15
    checkpoint_every: int = 100
    max_seconds: float | None = None
    seed: int = 0
    jit_compile: bool = False

    def __post_init__(self):
        for field in ("steps", "batch_size", "checkpoint_every"):
            if not isinstance(getattr(self, field), int) or getattr(self, field) <= 0:
                raise ValueError(
                    f"`{field}` must be a positive int. Received: "
                    f"{field}={getattr(self, field)!r}."
                )
        if not 0.0 < self.mask_rate < 1.0:
            raise ValueError(
                f"`mask_rate` must be in (0, 1). Received: mask_rate={self.mask_rate}."
            )


def make_mask_generator(
    preprocessor: TextPreprocessor, mask_rate: float = 0.15, seed: int | None = None
) -> keras_hub.layers.MaskedLMMaskGenerator:
    """keras-hub's 80/10/10 masker, never selecting special tokens."""
    return keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=preprocessor.vocabulary_size,
        mask_selection_rate=mask_rate,
        mask_token_id=preprocessor.mask_token_id,
        mask_selection_length=max(1, math.ceil(preprocessor.sequence_length * mask_rate)),
        unselectable_token_ids=[
            preprocessor.pad_token_id,
            preprocessor.cls_token_id,
            preprocessor.sep_token_id,
        ],
        mask_token_rate=0.8,
        random_token_rate=0.1,
    )


def mlm_dataset(
    texts: tf.data.Dataset,
    preprocessor: TextPreprocessor,
    *,
    batch_size: int,
    mask_rate: float = 0.15,
    seed: int | None = None,
    repeat: bool = True,
    shuffle_buffer: int = 10_000,
) -> tf.data.Dataset:
    """`(x, y, sample_weight)` batches for `BertMaskedLM.fit` from raw text.

    Masks are drawn when a batch is produced, so every pass over the corpus
    sees new masks (dynamic masking, as in RoBERTa).
    """
    masker = make_mask_generator(preprocessor, mask_rate, seed)

    def to_mlm(text):
        features = preprocessor(text)
        masked = masker(features["token_ids"])
        x = {
            "token_ids": masked["token_ids"],
            "segment_ids": features["segment_ids"],
            "padding_mask": features["padding_mask"],
            "mask_positions": masked["mask_positions"],
        }
        return x, masked["mask_ids"], masked["mask_weights"]

    ds = texts
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        ds = ds.repeat()
    return (
        ds.batch(batch_size)
        .map(to_mlm, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def make_masked_lm(backbone: keras.Model) -> keras_hub.models.BertMaskedLM:
    """The backbone plus keras-hub's tied masked-LM head."""
    return keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)


def compile_masked_lm(masked_lm: keras.Model, config: PretrainConfig) -> None:
    schedule = keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=config.learning_rate,
        decay_steps=max(1, config.steps - config.warmup_steps),
        end_learning_rate=0.0,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=_WarmupThen(schedule, config.warmup_steps, config.learning_rate),
        weight_decay=config.weight_decay,
        clipnorm=config.clipnorm,
    )
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    masked_lm.compile(
        optimizer=optimizer,
        # Averaged over real mask positions only, so the loss is the true
        # per-token cross-entropy (comparable across runs and to ln(vocab)).
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=config.jit_compile,
    )


@keras.saving.register_keras_serializable(package="kerasft")
class _WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `peak`, then `after(step - warmup_steps)`."""

    def __init__(self, after, warmup_steps, peak):
        self.after = after
        self.warmup_steps = warmup_steps
        self.peak = peak

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(1.0, float(self.warmup_steps))
        return keras.ops.where(
            step < self.warmup_steps, warm, self.after(step - self.warmup_steps)
        )

    def get_config(self):
        return {
            "after": keras.saving.serialize_keras_object(self.after),
            "warmup_steps": self.warmup_steps,
            "peak": self.peak,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["after"] = keras.saving.deserialize_keras_object(config["after"])
        return cls(**config)


class _TimeBudget(keras.callbacks.Callback):
    """Stop at the end of an epoch (a checkpoint) once `seconds` have passed."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if time.time() - self.start > self.seconds:
            logging.info("Time budget of %.0fs reached; stopping.", self.seconds)
            self.model.stop_training = True


def evaluate_mlm(
    masked_lm: keras.Model, validation: tf.data.Dataset
) -> dict[str, float]:
    """Held-out masked-LM loss and accuracy on a fixed (cached) masking."""
    results = masked_lm.evaluate(validation, verbose=0, return_dict=True)
    return {"loss": float(results["loss"]), "accuracy": float(results["accuracy"])}


def pretrain(
    backbone: keras.Model,
    preprocessor: TextPreprocessor,
    texts: tf.data.Dataset,
    *,
    config: PretrainConfig,
    run_dir: str,
    validation_texts: tf.data.Dataset | None = None,
    resume: bool = False,
    verbose: int | str = "auto",
) -> dict:
    """Pretrain `backbone` in place with masked-LM and return the metrics.

    Args:
        backbone: the `BertBackbone` to train.
        preprocessor: the `TextPreprocessor` matching its vocabulary.
        texts: a dataset of scalar strings (the pretraining corpus).
        config: a `PretrainConfig`.
        run_dir: where checkpoints and TensorBoard logs go.
        validation_texts: held-out text for MLM loss before/after.
        resume: continue from the run's last checkpoint (same step and
            optimizer state) instead of starting over.
        verbose: Keras `fit` verbosity (progress bar by default).

    Returns:
        A dict with `steps`, `seconds`, `tokens_per_second` and, when
        `validation_texts` is given, `validation_before`/`validation_after`.
    """
    keras.utils.set_random_seed(config.seed)
    strategy = tf.distribute.get_strategy()
    backup_dir = os.path.join(run_dir, "backup")
    if not resume and os.path.exists(backup_dir):
        shutil.rmtree(backup_dir)
    with strategy.scope():
        masked_lm = make_masked_lm(backbone)
        compile_masked_lm(masked_lm, config)
    train_ds = mlm_dataset(
        texts, preprocessor, batch_size=config.batch_size,
        mask_rate=config.mask_rate, seed=config.seed,
    )
    metrics: dict = {}
    val_ds = None
    if validation_texts is not None:
        # Cached once so before/after see the very same masks.
        val_ds = mlm_dataset(
            validation_texts, preprocessor, batch_size=config.batch_size,
            mask_rate=config.mask_rate, seed=config.seed + 1, repeat=False,
            shuffle_buffer=0,
        ).cache()
        if not resume:
            metrics["validation_before"] = evaluate_mlm(masked_lm, val_ds)
            logging.info("Held-out MLM before: %s", metrics["validation_before"])
    epochs = math.ceil(config.steps / config.checkpoint_every)
    callbacks = [
        # BackupAndRestore is the exact-resume state (deleted when training
        # ends); the weight files are the checkpoints a user keeps.
        keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch"),
        keras.callbacks.ModelCheckpoint(
            os.path.join(run_dir, "checkpoints", "epoch-{epoch:04d}.weights.h5"),
            save_weights_only=True,
        ),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard")),
    ]
    if config.max_seconds:
        callbacks.append(_TimeBudget(config.max_seconds))
    start = time.time()
    history = masked_lm.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=config.checkpoint_every,
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.time() - start
    steps_done = int(masked_lm.optimizer.iterations.numpy())
    metrics.update(
        {
            "steps": steps_done,
            "seconds": round(seconds, 2),
            "train_loss_curve": [float(x) for x in history.history.get("loss", [])],
        }
    )
    if val_ds is not None:
        metrics["validation_after"] = evaluate_mlm(masked_lm, val_ds)
        logging.info("Held-out MLM after: %s", metrics["validation_after"])
    with open(os.path.join(run_dir, "pretrain_history.json"), "w") as f:
        json.dump(history.history, f, indent=2)
    return metrics
