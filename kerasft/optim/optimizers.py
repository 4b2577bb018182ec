"""Build a fine-tuning optimizer from flat keyword hyper-parameters."""

from __future__ import annotations

import keras

from kerasft.optim import layerwise
from kerasft.optim import schedules

SCHEDULES = ("linear", "cosine", "slanted_triangular", "constant")
OPTIMIZERS = ("adamw", "adam", "sgd")
# Substrings of variable paths that get no weight decay (BERT practice):
# biases and LayerNorm scales/offsets, which Keras names `gamma`/`beta`.
# Keras matches them case-sensitively, so every spelling of LayerNorm that
# keras-hub and converted checkpoints use is listed. Pretraining uses it too.
NO_DECAY_NAMES = ("bias", "gamma", "beta", "layer_norm", "layernorm", "LayerNorm")


def make_schedule(
    *,
    learning_rate: float,
    schedule: str = "linear",
    warmup_steps: int = 0,
    total_steps: int | None = None,
    end_learning_rate: float = 0.0,
    cut_frac: float = 0.1,
    ratio: float = 32.0,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Build a per-step learning-rate schedule by name.

    Args:
        learning_rate: the peak rate.
        schedule: `"linear"` (`WarmupLinearDecay`), `"cosine"`
            (`WarmupCosineDecay`), `"slanted_triangular"`
            (`SlantedTriangular`; warmup is its `cut_frac`) or `"constant"`
            (a float, or `WarmupConstant` with warmup).
        warmup_steps: linear warmup steps (not used by `slanted_triangular`).
        total_steps: optimizer steps of the whole run; required except for
            `"constant"`.
        end_learning_rate: the floor of `linear` and `cosine`.
        cut_frac: `slanted_triangular` rising fraction.
        ratio: `slanted_triangular` peak-to-lowest ratio.

    Example:
    >>> s = make_schedule(learning_rate=1e-3, total_steps=100, warmup_steps=10)
    """
    if schedule not in SCHEDULES:
        raise ValueError(
            f"`schedule` must be one of {SCHEDULES}. Received: "
            f"schedule={schedule!r}"
        )
    if schedule == "constant":
        if warmup_steps:
            return schedules.WarmupConstant(learning_rate, warmup_steps)
        return float(learning_rate)
    if total_steps is None:
        raise ValueError(
            f"`total_steps` is required for schedule={schedule!r}. Received: "
            "total_steps=None. Pass epochs * steps_per_epoch, or use "
            'schedule="constant".'
        )
    if schedule == "slanted_triangular":
        if warmup_steps:
            raise ValueError(
                "`warmup_steps` is not used by the slanted triangular schedule "
                "(its rise is `cut_frac * total_steps`). Received: "
                f"warmup_steps={warmup_steps}. Pass 0 and set `cut_frac`."
            )
        return schedules.SlantedTriangular(
            learning_rate, total_steps, cut_frac=cut_frac, ratio=ratio
        )
    cls = (
        schedules.WarmupLinearDecay
        if schedule == "linear"
        else schedules.WarmupCosineDecay
    )
    return cls(
        learning_rate,
        total_steps,
        warmup_steps=warmup_steps,
        end_learning_rate=end_learning_rate,
    )


def make_optimizer(
    *,
    name: str = "adamw",
    learning_rate: float = 2e-5,
    weight_decay: float | None = 0.01,
    clipnorm: float | None = 1.0,
    global_clipnorm: float | None = None,
    schedule: str = "linear",
    warmup_steps: int = 0,
    total_steps: int | None = None,
    end_learning_rate: float = 0.0,
    layerwise_decay: float | None = None,
    num_layers: int | None = None,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-6,
    momentum: float = 0.0,
    no_decay_names: tuple[str, ...] | list[str] = NO_DECAY_NAMES,
) -> keras.optimizers.Optimizer:
    """Build a Keras optimizer for fine-tuning from flat hyper-parameters.

    Biases and LayerNorm variables (including `embeddings_layer_norm`) are
    excluded from weight decay. The result is a `LayerwiseAdamW`,
    `LayerwiseAdam` or `LayerwiseSGD` (subclasses of the Keras optimizers
    that keep the exclusions in their config, so a reloaded model trains the
    same); with `layerwise_decay` it scales rates by
    `layerwise_lr_multipliers(num_layers, layerwise_decay)`, otherwise every
    multiplier is 1. `name="adamw"` without weight decay gives Adam.

    Args:
        name: `"adamw"`, `"adam"` or `"sgd"`.
        learning_rate: the peak (or constant) learning rate.
        weight_decay: decoupled weight decay; `None` or 0 disables it.
        clipnorm: per-variable gradient-norm clipping (Keras `clipnorm`);
            `None` disables it.
        global_clipnorm: clipping of the global gradient norm (as in BERT);
            use instead of `clipnorm`.
        schedule: `"linear"`, `"cosine"`, `"slanted_triangular"` or
            `"constant"` (see `make_schedule`).
        warmup_steps: linear warmup steps.
        total_steps: optimizer steps of the whole run (epochs times steps per
            epoch); required unless `schedule="constant"`.
        end_learning_rate: floor of the linear and cosine schedules.
        layerwise_decay: optional per-layer learning-rate decay in (0, 1].
        num_layers: the backbone's transformer layer count; required with
            `layerwise_decay`.
        beta_1: Adam first-moment decay.
        beta_2: Adam second-moment decay.
        epsilon: Adam epsilon.
        momentum: SGD momentum.
        no_decay_names: variable-name substrings excluded from weight decay.

    Example:
    >>> opt = make_optimizer(learning_rate=3e-5, warmup_steps=10,
    ...                      total_steps=100, layerwise_decay=0.9, num_layers=2)
    >>> type(opt).__name__
    'LayerwiseAdamW'
    """
    if name not in OPTIMIZERS:
        raise ValueError(
            f"`name` must be one of {OPTIMIZERS}. Received: name={name!r}"
        )
    if clipnorm and global_clipnorm:
        raise ValueError(
            "Pass only one of `clipnorm` and `global_clipnorm`. Received: "
            f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}. Set "
            "clipnorm=None to clip the global norm."
        )
    if weight_decay is not None and weight_decay < 0:
        raise ValueError(
            f"`weight_decay` must be >= 0 or None. Received: "
            f"weight_decay={weight_decay!r}"
        )
    if layerwise_decay is not None and num_layers is None:
        raise ValueError(
            "`num_layers` is required with `layerwise_decay`. Received: "
            f"layerwise_decay={layerwise_decay}, num_layers=None. Pass the "
            "backbone's transformer layer count."
        )
    lr = make_schedule(
        learning_rate=learning_rate,
        schedule=schedule,
        warmup_steps=warmup_steps,
        total_steps=total_steps,
        end_learning_rate=end_learning_rate,
    )
    kwargs = {
        "learning_rate": lr,
        "weight_decay": weight_decay or None,
        "clipnorm": clipnorm or None,
        "global_clipnorm": global_clipnorm or None,
    }
    if name in ("adamw", "adam"):
        kwargs.update(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    else:
        kwargs.update(momentum=float(momentum))

    if name == "adamw" and not weight_decay:
        # Keras AdamW rejects weight_decay=None; without decay it is Adam.
        name = "adam"
    cls = {
        "adamw": layerwise.LayerwiseAdamW,
        "adam": layerwise.LayerwiseAdam,
        "sgd": layerwise.LayerwiseSGD,
    }[name]
    if layerwise_decay is not None:
        kwargs["lr_multipliers"] = layerwise.layerwise_lr_multipliers(
            num_layers, layerwise_decay
        )
    optimizer = cls(**kwargs)
    if kwargs["weight_decay"] and no_decay_names:
        optimizer.exclude_from_weight_decay(var_names=list(no_decay_names))
    return optimizer


def build_before_fit(model: keras.Model) -> None:
    """Build `model`'s optimizer now, on what is trainable now, as `fit` would.

    Under the default strategy Keras builds the optimizer inside the first
    trace of the train step; variables created in a trace make `tf.function`
    trace again (about 2 s a fit of a small model). Does nothing for an
    unbuilt model, an uncompiled one, or a built optimizer.

    Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> build_before_fit(model)
    >>> model.optimizer.built
    True
    """
    optimizer = getattr(model, "optimizer", None)
    if model.built and optimizer is not None and not optimizer.built:
        with model.distribute_strategy.scope():
            optimizer.build(model.trainable_variables)
