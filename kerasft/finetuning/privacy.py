"""Differentially private fine-tuning: DP-SGD in the Keras `train_step`.

Each step computes every example's gradient (`tf.vectorized_map`), clips it
to L2 norm <= C over all trainable variables, sums, adds Gaussian noise of
std `noise_multiplier * C` and divides by the *expected* batch size (Abadi et
al. 2016); the model's optimizer applies the result. The noise multiplier is
calibrated with `dp-accounting` (RDP accountant, Poisson-sampled Gaussian
composed over the planned steps) to reach a target (epsilon, delta).

Sampling: the accountant assumes Poisson sampling, every example joining
each step independently with probability q = batch_size / N. kerasft's usual
batches (shuffled, then length-bucketed, fixed size) are far from it: with
DP's large batches a batch is nearly a length range. DP runs therefore train
on `poisson_dataset`, which draws each step's batch that way (sizes vary
around `batch_size`), so the accountant's assumption holds as stated.
Limits: sampling and noise use pseudo-random generators seeded from
`os.urandom` (not cryptographically secure); only the gradient steps are
private (not a vocabulary or class weights from the train data, nor the
logged train loss); validation data pick the best epoch, unprotected.
"""

from __future__ import annotations

import contextlib
import math
import os

import dp_accounting
import keras
import numpy as np
import tensorflow as tf
from absl import logging
from dp_accounting.rdp import RdpAccountant

ACCOUNTANT = "rdp"


def _check(name: str, ok: bool, expected: str, value) -> None:
    if not ok:
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}.")


def _check_run(delta: float, sampling_rate: float, steps: int) -> None:
    _check("delta", 0 < delta < 1, "in (0, 1)", delta)
    _check("sampling_rate", 0 < sampling_rate <= 1, "in (0, 1]", sampling_rate)
    _check("steps", isinstance(steps, (int, np.integer)) and steps >= 1, "an int >= 1", steps)


@contextlib.contextmanager
def _quiet():  # Small noise: per-order warnings of orders dropped (still a bound).
    level, _ = logging.get_verbosity(), logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        logging.set_verbosity(level)


def dp_event(noise_multiplier: float, sampling_rate: float, steps: int) -> dp_accounting.DpEvent:
    """DP-SGD as a `dp_accounting` event: `steps` Poisson-sampled Gaussians."""
    gaussian = dp_accounting.GaussianDpEvent(noise_multiplier)
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sampling_rate, gaussian), int(steps))


def epsilon_for(noise_multiplier: float, delta: float, sampling_rate: float, steps: int) -> float:
    """The RDP accountant's epsilon of DP-SGD at `delta`. Example:
    >>> round(epsilon_for(1.0, 1e-5, 0.01, 1000), 2)
    2.1
    """
    _check("noise_multiplier", noise_multiplier >= 0, ">= 0", noise_multiplier)
    _check_run(delta, sampling_rate, steps)
    with _quiet():
        accountant = RdpAccountant().compose(dp_event(noise_multiplier, sampling_rate, steps))
        return float(accountant.get_epsilon(delta))


def noise_multiplier_for(epsilon: float, delta: float, sampling_rate: float, steps: int) -> float:
    """The smallest noise multiplier whose epsilon at `delta` is <= `epsilon`
    (`dp_accounting.calibrate_dp_mechanism`, RDP accountant, tolerance 1e-4).
    Example:
    >>> sigma = noise_multiplier_for(2.1, 1e-5, 0.01, 1000)
    >>> epsilon_for(sigma, 1e-5, 0.01, 1000) <= 2.1
    True
    """
    _check("epsilon", epsilon > 0 and math.isfinite(epsilon), "a positive finite number", epsilon)
    _check_run(delta, sampling_rate, steps)
    try:
        with _quiet():
            sigma = dp_accounting.calibrate_dp_mechanism(
                RdpAccountant, lambda s: dp_event(s, sampling_rate, steps), epsilon, delta,
                dp_accounting.LowerEndpointAndGuess(1e-2, 1.0), tol=1e-4)
    except dp_accounting.mechanism_calibration.NoBracketIntervalFoundError as e:
        raise ValueError(
            f"No noise multiplier in [0.01, 2**30] reaches epsilon={epsilon} at delta="
            f"{delta} for {steps} steps at sampling rate {sampling_rate}.") from e
    return float(sigma)


def default_delta(num_examples: int) -> float:
    """The largest power of ten <= 1 / (10 N): well below 1/N, so delta
    cannot be met by releasing one example outright. Example:
    >>> default_delta(8528), default_delta(100)
    (1e-05, 0.001)
    """
    return 10.0 ** math.floor(math.log10(1.0 / (10 * num_examples)))


def plan(epsilon: float, delta: float, clip_norm: float, *, num_examples: int,
         batch_size: int, steps: int) -> dict:
    """Calibrate a run: the settings `metrics.json["privacy"]` records.
    Refuses (ValueError) epsilon <= 0, delta outside (0, 1/N) (0 means
    `default_delta`), clip_norm <= 0, a batch larger than the data, and a
    calibrated noise whose epsilon exceeds the target."""
    _check("dp_epsilon", epsilon > 0 and math.isfinite(epsilon),
           "a positive finite number (0 turns DP off)", epsilon)
    _check("dp_clip_norm", clip_norm > 0, "> 0", clip_norm)
    if delta == 0:
        delta = default_delta(num_examples)
    if not 0 < delta < 1 / num_examples:
        raise ValueError(
            f"`dp_delta` must be in (0, 1/N) = (0, {1 / num_examples:.3g}) for N = "
            f"{num_examples} train examples; a delta of 1/N or more allows "
            f"releasing an example outright. Received: dp_delta={delta!r}. "
            f"Pass a smaller one, or 0 for the default "
            f"({default_delta(num_examples):g}).")
    if batch_size > num_examples:
        raise ValueError(
            f"`batch_size` must be at most the {num_examples} train examples for "
            f"DP (sampling rate batch/N <= 1). Received: batch_size={batch_size}.")
    sampling_rate = batch_size / num_examples
    sigma = noise_multiplier_for(epsilon, delta, sampling_rate, steps)
    achieved = epsilon_for(sigma, delta, sampling_rate, steps)
    if achieved > epsilon:
        raise ValueError(
            f"The accountant's epsilon for the calibrated noise multiplier "
            f"{sigma:.4f} is {achieved:.4f}, above the target dp_epsilon={epsilon}. "
            "Raise dp_epsilon or train fewer steps.")
    return {
        "accountant": ACCOUNTANT, "target_epsilon": float(epsilon), "epsilon": achieved,
        "delta": float(delta), "noise_multiplier": sigma, "clip_norm": float(clip_norm),
        "sampling_rate": sampling_rate, "sampling": "poisson",
        "expected_batch_size": int(batch_size), "planned_steps": int(steps),
        "steps": int(steps),
    }


def spent(record: dict, steps: int) -> dict:
    """`record` (from `plan`) updated to the `steps` actually run."""
    if steps > record["planned_steps"]:
        raise ValueError(
            f"The run took {steps} DP steps, more than the {record['planned_steps']} "
            "the noise was calibrated for, so its epsilon exceeds the target.")
    epsilon = (epsilon_for(record["noise_multiplier"], record["delta"],
                           record["sampling_rate"], steps) if steps else 0.0)
    return {**record, "steps": int(steps), "epsilon": epsilon}


def clip_gradients(per_example: list[tf.Tensor], clip_norm: float) -> tuple[list, tf.Tensor]:
    """Scale each example's gradients (leading axis) to global L2 norm <= clip_norm
    (those within it unchanged); returns them and the norms before clipping."""
    squares = [tf.reshape(tf.square(g), [tf.shape(g)[0], -1]) for g in per_example]
    norms = tf.sqrt(tf.add_n([tf.reduce_sum(s, axis=1) for s in squares]))
    scale = clip_norm / tf.maximum(norms, clip_norm)
    clipped = [g * tf.reshape(scale, [-1] + [1] * (g.shape.rank - 1)) for g in per_example]
    return clipped, norms


def per_example_gradients(model: keras.Model, x, y, sample_weight=None):
    """Every example's loss gradients w.r.t. `model.trainable_variables`.

    `tf.vectorized_map` over the batch of a one-example forward pass and
    `tf.GradientTape`; the loss is the model's compiled loss on that example.
    Returns `(gradients, losses, y_pred)`, each with a leading batch axis.
    """
    variables = model.trainable_variables

    def one(args):
        xi, yi, *wi = keras.tree.map_structure(lambda t: t[None], args)
        wi = wi[0] if wi else None
        with tf.GradientTape() as tape:
            pred = model(xi, training=True)
            loss = model.compute_loss(x=xi, y=yi, y_pred=pred, sample_weight=wi, training=True)
        grads = [tf.zeros(v.shape, v.dtype) if g is None else tf.convert_to_tensor(g)
                 for g, v in zip(tape.gradient(loss, variables), variables)]
        return grads, loss, keras.tree.map_structure(lambda t: t[0], pred)

    args = (x, y) if sample_weight is None else (x, y, sample_weight)
    return tf.vectorized_map(one, args)


class PrivateStep:
    """The DP-SGD step `TaskModel.train_step` runs while `model.dp_step` is set:
    a plain object, in neither the model's config nor its weights.

    `clip_norm` C bounds each example's gradient; the noise std is
    `noise_multiplier * C`; the sum is divided by `expected_batch_size`
    (Poisson batches vary); `seed` None draws the noise seed from `os.urandom`.
    """

    def __init__(self, clip_norm: float, noise_multiplier: float,
                 expected_batch_size: int, seed: int | None = None):
        self.clip_norm = float(clip_norm)
        self.noise_multiplier = float(noise_multiplier)
        self.expected_batch_size = int(expected_batch_size)
        # Its own generator state: noise never repeats across steps or fits
        # (a second optimizer's `iterations` would restart at 0).
        seed = int.from_bytes(os.urandom(8), "little") if seed is None else int(seed)
        self._noise = tf.random.Generator.from_seed(seed)

    def gradients(self, model: keras.Model, x, y, sample_weight=None):
        """The noised, clipped mean gradient, the per-example losses and predictions."""
        grads, losses, y_pred = per_example_gradients(model, x, y, sample_weight)
        clipped, _ = clip_gradients(grads, self.clip_norm)
        std = self.noise_multiplier * self.clip_norm
        noised = []
        for g in clipped:
            total = tf.reduce_sum(g, axis=0)
            if std > 0:
                total += self._noise.normal(tf.shape(total), stddev=std, dtype=total.dtype)
            noised.append(total / self.expected_batch_size)
        return noised, losses, y_pred

    def __call__(self, model: keras.Model, data) -> dict:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = model.trainable_variables
        grads, losses, y_pred = self.gradients(model, x, y, sample_weight)
        model.optimizer.apply(grads, variables)
        model._loss_tracker.update_state(tf.reduce_mean(losses),
                                         sample_weight=tf.shape(losses)[0])
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


class StepBudget(keras.callbacks.Callback):
    """Counts DP steps over every fit it joins; stops at the planned budget."""
    def __init__(self, planned_steps: int):
        super().__init__()
        self.planned_steps = planned_steps
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps >= self.planned_steps:
            self.model.stop_training = True


def poisson_dataset(head, examples, preprocessor, *, batch_size: int,
                    seed: int | None = None) -> tf.data.Dataset:
    """Poisson-sampled train batches, `ceil(N / batch_size)` an epoch: each
    takes every example independently with probability batch_size / N, built
    by the head's own `make_dataset` (any head works). `seed` None: `os.urandom`.
    """
    n, steps = len(examples), -(-len(examples) // batch_size)
    rng = np.random.default_rng(int.from_bytes(os.urandom(8), "little") if seed is None else seed)

    def batch_of(chosen):
        ds = head.make_dataset(chosen, preprocessor, batch_size=max(len(chosen), 1))
        return next(iter(ds.take(1).as_numpy_iterator()))

    spec = head.make_dataset(examples[:1], preprocessor, batch_size=1).element_spec

    def generate():
        for _ in range(steps):
            index = np.flatnonzero(rng.random(n) < batch_size / n)
            if index.size:
                yield batch_of([examples[i] for i in index])
            else:  # An empty sample is still a step (noise only).
                yield keras.tree.map_structure(lambda a: a[:0], batch_of(examples[:1]))

    dataset = tf.data.Dataset.from_generator(generate, output_signature=spec)
    return dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(1)


def setup(config, model, head, train, preprocessor, *, steps_per_epoch: int,
          replicas: int, resume: bool):
    """Turn DP on for a `finetune` run: calibrate for `epochs * steps_per_epoch`
    steps at rate batch/N, set `model.dp_step`; return the Poisson train
    dataset, the `plan` record and the `StepBudget` callback. Refuses resume
    (an interrupted epoch's steps were spent, not checkpointed) and several
    replicas (each would add its own noise).
    """
    if resume:
        raise ValueError(
            "--resume is not supported with --dp_epsilon: an interrupted epoch's "
            "steps spent budget a resumed run cannot account for. Received: "
            "resume=True. Rerun from the start.")
    if replicas > 1:
        raise ValueError(
            f"DP fine-tuning runs on one replica; received num_replicas_in_sync="
            f"{replicas}. Run it without a multi-device distribution strategy.")
    if not (config.backbone or config.init_model) or config.loss not in ("cross_entropy", "focal"):
        logging.warning("DP covers the gradient steps only, not a vocabulary trained on "
                        "the train text (no --backbone) nor class weights from its counts.")
    steps = config.epochs * steps_per_epoch
    record = plan(config.dp_epsilon, config.dp_delta, config.dp_clip_norm,
                  num_examples=len(train), batch_size=config.batch_size, steps=steps)
    model.dp_step = PrivateStep(record["clip_norm"], record["noise_multiplier"],
                                config.batch_size)
    train_ds = poisson_dataset(head, train, preprocessor, batch_size=config.batch_size)
    return train_ds, record, StepBudget(steps)
