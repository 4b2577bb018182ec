"""The pretraining loop: plain `model.fit` with exact resume and quality figures.

One loop serves both objectives (`PretrainConfig.objective`): masked-LM
(keras-hub's `BertMaskedLM`) and ELECTRA (`ElectraPretrainer`); both read
the batches of `kerasft.pretraining.mlm.mlm_dataset`. Every epoch
(`checkpoint_every` steps) ends with an exact-resume checkpoint in
`run_dir/backup/step-N/` (weights, optimizer state, step, dropout and
sampling RNG, real tokens seen, history, the weights' SHA-256), written
under a temporary name and renamed; the two newest are kept and a damaged
newest one is skipped on resume. The run reports
held-out loss and accuracy before and after, the loss of a unigram model of
the same held-out text (`kerasft.pretraining.quality`), a loss-curve PNG and
TensorBoard scalars.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import shutil
import time

import keras
import keras_hub
import tensorflow as tf
from absl import logging

from kerasft import atomic_files
from kerasft.distribution import current_strategy
from kerasft.optim.optimizers import build_before_fit
from kerasft.checkpoints import (
    Checkpointer,
    EpochWeights,
    extend_history,
    latest_checkpoint,
    restore_state,
)
from kerasft.pretraining import quality
from kerasft.pretraining.mlm import (
    MASKED_LM_HEAD_WEIGHTS,
    PretrainConfig,
    compile_masked_lm,
    make_pretrain_optimizer,
    mlm_dataset,
    save_masked_lm_head,
)

BACKUP_DIR = "backup"
HISTORY_FILE = "pretrain_history.json"
# The held-out metric comparable with a unigram model, per objective.
MLM_LOSS_KEY = {"mlm": "loss", "electra": "generator_loss"}
MLM_ACCURACY_KEY = {"mlm": "accuracy", "electra": "generator_accuracy"}


def _counting(cls, counter: tf.Variable):
    """`cls` whose `train_step` also adds the batch's real tokens to `counter`."""

    class Counting(cls):
        def train_step(self, data):
            logs = super().train_step(data)
            mask = data[0]["padding_mask"]
            counter.assign_add(tf.reduce_sum(tf.cast(mask, tf.int64)))
            return logs

    Counting.__name__ = cls.__name__
    return Counting


def make_pretraining_model(backbone: keras.Model, config: PretrainConfig):
    """The compiled trainer of `config.objective` around `backbone`.

    Returns `(model, tokens_counter)`; the counter (an on-read summed
    variable, so it adds up over replicas) counts real training tokens.
    """
    counter = tf.Variable(
        0, dtype=tf.int64, trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.SUM,
    )
    if config.objective == "electra":
        from kerasft.pretraining.electra import ElectraPretrainer

        hidden = backbone.hidden_dim
        heads = max(1, round(hidden * config.generator_fraction / 64))
        width = max(heads * 16, round(hidden * config.generator_fraction / heads) * heads)
        model = _counting(ElectraPretrainer, counter)(
            backbone,
            generator_hidden_dim=width,
            generator_num_heads=heads,
            generator_intermediate_dim=4 * width,
            rtd_weight=config.rtd_weight,
            seed=config.seed,
        )
        model.compile(
            optimizer=make_pretrain_optimizer(config), jit_compile=config.jit_compile
        )
    else:
        model = _counting(keras_hub.models.BertMaskedLM, counter)(
            backbone=backbone, preprocessor=None
        )
        compile_masked_lm(model, config)
    return model, counter


class _Budget(keras.callbacks.Callback):
    """Stop at `steps` optimizer steps, or at an epoch end after `seconds`."""

    def __init__(self, steps: int, seconds: float | None):
        super().__init__()
        self.steps = steps
        self.seconds = seconds
        self.start = time.time()
        self.timed_out = False

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.seconds and time.time() - self.start > self.seconds:
            logging.info("Time budget of %.0fs reached; stopping.", self.seconds)
            self.model.stop_training = True
            self.timed_out = True


class _Throughput(keras.callbacks.Callback):
    """Each checkpoint interval's real (non-padding) tokens per second.

    Measured from one epoch end to the next, so an interval carries the
    previous checkpoint's save: the rate a run really trains at. Put into the
    epoch's logs (history, TensorBoard) as `real_tokens_per_second`.
    """

    def __init__(self, counter: tf.Variable):
        super().__init__()
        self.counter = counter
        self.steady: list[float] = []  # every interval but each fit's first

    def on_train_begin(self, logs=None):
        self._mark = (time.perf_counter(), int(self.counter.numpy()))
        self._first = True  # its interval traces the train step

    def on_epoch_end(self, epoch, logs=None):
        now, tokens = time.perf_counter(), int(self.counter.numpy())
        rate = (tokens - self._mark[1]) / max(now - self._mark[0], 1e-9)
        if not self._first:
            self.steady.append(rate)
        if logs is not None:
            logs["real_tokens_per_second"] = rate
        self._mark, self._first = (now, tokens), False

    def steady_rate(self) -> float | None:
        """The median steady interval's rate (None before a second interval)."""
        rates = sorted(self.steady)
        return round(rates[len(rates) // 2], 1) if rates else None


def evaluate_pretraining(model: keras.Model, validation: tf.data.Dataset) -> dict:
    """Held-out metrics of the trainer on a fixed (cached) masking."""
    results = model.evaluate(validation, verbose=0, return_dict=True)
    return {k: float(v) for k, v in results.items()}


def _write_summaries(directory: str, points: dict[int, dict]) -> None:
    """Held-out scalars for TensorBoard (`tensorboard/held_out`)."""
    writer = tf.summary.create_file_writer(os.path.join(directory, "held_out"))
    with writer.as_default():
        for step, values in sorted(points.items()):
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)
    writer.close()


@dataclasses.dataclass(frozen=True)
class Phase:
    """Steps `[start, end)` trained on rows of `sequence_length` tokens.

    `data_start` is the step the phase's data stream began at (an ELECTRA
    masked-LM warmup can end inside a row length's stream), and
    `masked_lm` marks ELECTRA's masked-LM warmup steps.
    """

    start: int
    end: int
    sequence_length: int
    batch_size: int
    seed_offset: int
    data_start: int = 0
    masked_lm: bool = False


def _boundary(config: PretrainConfig, fraction: float) -> int:
    # A fraction of the planned budget (`decay_steps` when a run will be
    # extended), on a checkpoint, so a run stopped early and resumed keeps
    # the same boundary and knows its phase from its step.
    every = config.checkpoint_every
    return min(config.steps, round(config.schedule_steps * fraction / every) * every)


def training_phases(config: PretrainConfig, sequence_length: int) -> list[Phase]:
    """The run's phases: an optional short-row warmup, then full rows.

    Sequence-length warmup (Li et al. 2022; BERT's own 128-then-512):
    attention over a short row is spread over few tokens, so a small model
    leaves the unigram plateau (predicting word frequencies, ignoring
    context) in far fewer steps. Rows of the warmup hold the same number of
    tokens per step (a proportionally larger batch). ELECTRA runs are also
    cut where their masked-LM warmup (`electra_mlm_fraction`) ends. Every
    boundary falls on a checkpoint.

    Example:
    >>> [(p.start, p.end, p.sequence_length, p.batch_size) for p in
    ...  training_phases(PretrainConfig(steps=1000, batch_size=64,
    ...      checkpoint_every=100, short_sequence_length=16,
    ...      short_sequence_fraction=0.5), 64)]
    [(0, 500, 16, 256), (500, 1000, 64, 64)]
    """
    short = config.short_sequence_length
    rows = 0
    if short and short < sequence_length and config.short_sequence_fraction > 0:
        rows = _boundary(config, config.short_sequence_fraction)
    streams = []  # (start, end, length, batch, seed offset)
    if rows:
        streams.append((0, rows, short, config.batch_size * sequence_length // short, 7919))
    if rows < config.steps:
        streams.append((rows, config.steps, sequence_length, config.batch_size, 0))
    warmup = 0
    if config.objective == "electra" and config.electra_mlm_fraction > 0:
        warmup = _boundary(config, config.electra_mlm_fraction)
    phases = []
    for start, end, length, batch, seed_offset in streams:
        for lo, hi, masked_lm in ((start, min(end, warmup), True),
                                  (max(start, warmup), end, False)):
            if lo < hi:
                phases.append(Phase(lo, hi, length, batch, seed_offset,
                                    data_start=start, masked_lm=masked_lm))
    return phases


def _with_length(preprocessor, sequence_length: int):
    """`preprocessor`, or a copy that packs rows of `sequence_length` tokens."""
    if sequence_length == preprocessor.sequence_length:
        return preprocessor
    config = dict(preprocessor.get_config(), sequence_length=sequence_length)
    return type(preprocessor).from_config(config)


def pretrain(
    backbone: keras.Model,
    preprocessor,
    texts: tf.data.Dataset,
    *,
    config: PretrainConfig,
    run_dir: str,
    validation_texts: tf.data.Dataset | None = None,
    resume: bool = False,
    resume_dir: str | None = None,
    verbose: int | str = "auto",
) -> dict:
    """Pretrain `backbone` in place (masked-LM or ELECTRA); return the metrics.

    Args:
        backbone: the `BertBackbone` to train (ELECTRA's discriminator).
        preprocessor: the `TextPreprocessor` or `SentencePiecePreprocessor`
            matching its vocabulary.
        texts: a dataset of scalar strings (the pretraining corpus).
        config: a `PretrainConfig`.
        run_dir: where checkpoints, TensorBoard logs, the loss curve and
            the masked-LM head weights (`masked_lm_head.npz`, MLM only) go.
        validation_texts: held-out text for the before/after metrics and
            the unigram baseline.
        resume: continue from the run's last checkpoint (same step, optimizer
            state, data position and masks) instead of starting over.
        resume_dir: the run directory to resume from, if not `run_dir` (a
            multi-worker run's other workers read the chief's).
        verbose: Keras `fit` verbosity (progress bar by default).

    Returns:
        A dict with `objective`, `steps`, `resumed_from_step`, `seconds`,
        `tokens_seen` (real, non-padding training tokens),
        `real_tokens_per_second` (the median checkpoint interval after each
        phase's first, saves included; None for a one-interval run),
        `train_loss_curve`
        (one value per checkpoint interval) and, with `validation_texts`,
        `validation_before` / `validation_after` (every held-out metric),
        `unigram` (loss and accuracy of the held-out text's own token
        frequencies) and `warning` (set when the run ended near it).

    Example:
    >>> pretrain(backbone, pre, texts, config=PretrainConfig(steps=10),
    ...     run_dir="runs/x")  # doctest: +SKIP
    """
    keras.utils.set_random_seed(config.seed)
    strategy = current_strategy()
    backup_dir = os.path.join(run_dir, BACKUP_DIR)
    checkpoint = (latest_checkpoint(os.path.join(resume_dir or run_dir, BACKUP_DIR))
                  if resume else None)
    state = None if checkpoint is None else checkpoint.state
    if resume and state is None:
        logging.warning("Nothing to resume in %s; starting from step 0.", backup_dir)
    if not resume and os.path.exists(backup_dir):
        shutil.rmtree(backup_dir)
    atomic_files.remove_dead_temporaries(
        run_dir, backup_dir, os.path.join(run_dir, "checkpoints"))
    with strategy.scope():
        model, counter = make_pretraining_model(backbone, config)
    initial_step = 0
    if state is not None:
        with strategy.scope():  # the optimizer's variables are built here
            restore_state(model, checkpoint.path, state)
        initial_step = state["step"]
        counter.assign(state.get("tokens_seen", 0))
        logging.info("Resuming at step %d of %d.", initial_step, config.steps)
    phases = training_phases(config, preprocessor.sequence_length)
    metrics: dict = {"objective": config.objective}
    val_ds = None
    if validation_texts is not None:
        # Cached once so before/after (and the unigram baseline) see the
        # very same masks.
        val_ds = mlm_dataset(
            validation_texts, preprocessor, batch_size=config.batch_size,
            mask_rate=config.validation_mask_rate, packing=config.packing,
            whole_word=config.whole_word_masking, seed=config.seed + 1,
            repeat=False, shuffle_buffer=0,
        ).cache()
        for key in ("validation_before", "unigram"):
            if state is not None and key in state:
                metrics[key] = state[key]
        if "unigram" not in metrics:
            metrics["unigram"] = quality.unigram_baseline(
                val_ds.as_numpy_iterator(),
                preprocessor.vocabulary_size,
                [preprocessor.pad_token_id, preprocessor.cls_token_id,
                 preprocessor.sep_token_id, preprocessor.mask_token_id],
            )
        if "validation_before" not in metrics:
            metrics["validation_before"] = evaluate_pretraining(model, val_ds)
        logging.info("Held-out before: %s (unigram model of the same text: %s)",
                     metrics["validation_before"], metrics["unigram"])
    budget = _Budget(config.steps, config.max_seconds)
    throughput = _Throughput(counter)
    callbacks = [
        throughput,  # first, so every later callback sees its log entry
        Checkpointer(
            backup_dir,
            lambda: dict(metrics, tokens_seen=int(counter.numpy())),
            history=None if state is None else state.get("history"),
        ),
        EpochWeights(os.path.join(run_dir, "checkpoints", "epoch-{epoch:04d}.weights.h5")),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard")),
        budget,
    ]
    start = time.time()
    history: dict = {}
    if initial_step >= config.steps:
        logging.info("Budget of %d steps already reached.", config.steps)
    for phase in phases:
        step = int(model.optimizer.iterations.numpy())
        if step >= phase.end or budget.timed_out:
            continue
        if phase.sequence_length != preprocessor.sequence_length:
            logging.info(
                "Steps %d-%d: sequence-length warmup, rows of %d tokens, batch %d.",
                phase.start, phase.end, phase.sequence_length, phase.batch_size)
        train_ds = mlm_dataset(
            texts, _with_length(preprocessor, phase.sequence_length),
            batch_size=phase.batch_size, mask_rate=config.mask_rate,
            packing=config.packing, whole_word=config.whole_word_masking,
            seed=config.seed + phase.seed_offset,
            start_batch=step - phase.data_start,
        )
        if config.objective == "electra":
            model.masked_lm_warmup = phase.masked_lm
            if phase.masked_lm:
                logging.info("Steps %d-%d: masked-LM warmup of the backbone.",
                             phase.start, phase.end)
        epoch = step // config.checkpoint_every
        budget.steps = phase.end
        build_before_fit(model)
        fit = model.fit(
            train_ds,
            initial_epoch=epoch,
            epochs=math.ceil(phase.end / config.checkpoint_every),
            steps_per_epoch=config.checkpoint_every,
            callbacks=callbacks,
            verbose=verbose,
        )
        extend_history(history, fit.history)
        # The finished phase's iterator sits in a reference cycle; collected
        # now, its prefetch threads stop instead of running to process exit.
        del fit, train_ds
        gc.collect()
    seconds = time.time() - start
    steps_done = int(model.optimizer.iterations.numpy())
    metrics.update(
        {
            "steps": steps_done,
            "resumed_from_step": initial_step,
            "seconds": round(seconds, 2),
            "tokens_seen": int(counter.numpy()),
            "train_loss_curve": [float(x) for x in history.get("loss", [])],
            "real_tokens_per_second": throughput.steady_rate(),
        }
    )
    if config.objective == "mlm":
        save_masked_lm_head(model, os.path.join(run_dir, MASKED_LM_HEAD_WEIGHTS))
    full_history = _merge_history(run_dir, history, state)
    loss_key = MLM_LOSS_KEY[config.objective]
    held_out_points = {}
    if val_ds is not None:
        metrics["validation_after"] = evaluate_pretraining(model, val_ds)
        logging.info("Held-out after: %s", metrics["validation_after"])
        before_step = 0 if "validation_before" in metrics else initial_step
        held_out_points = {
            before_step: metrics["validation_before"],
            steps_done: metrics["validation_after"],
        }
        warning = quality.plateau_warning(
            metrics["validation_after"][loss_key], metrics["unigram"]["loss"]
        )
        if warning:
            logging.warning(warning)
            metrics["warning"] = warning
        _write_summaries(os.path.join(run_dir, "tensorboard"), held_out_points)
    curve = full_history.get(loss_key, [])
    quality.plot_loss_curve(
        os.path.join(run_dir, quality.LOSS_CURVE_PNG),
        [min(config.checkpoint_every * (i + 1), steps_done) for i in range(len(curve))],
        curve,
        held_out={s: v[loss_key] for s, v in held_out_points.items()},
        unigram_loss=metrics.get("unigram", {}).get("loss"),
        title=f"Pretraining ({config.objective}): masked-LM loss",
    )
    return metrics


def _merge_history(run_dir: str, history: dict, state: dict | None) -> dict:
    """The run's per-epoch history: the resumed checkpoint's, then this fit's."""
    path = os.path.join(run_dir, HISTORY_FILE)
    previous: dict = {}
    if state is not None:
        if "history" in state:
            previous = {k: list(v) for k, v in state["history"].items()}
            # The checkpoint's history ends at its step; so does the file's.
        elif os.path.isfile(path):
            with open(path) as f:
                previous = json.load(f)
    extend_history(previous, history)
    atomic_files.write_json(path, previous)
    return previous
