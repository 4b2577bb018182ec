"""Per-step learning-rate schedules for fine-tuning (warmup, decay, STLR)."""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_steps(total_steps, warmup_steps):
    if not _is_int(total_steps) or total_steps < 1:
        raise ValueError(
            "`total_steps` must be a positive int (the number of optimizer "
            f"steps in the whole run). Received: total_steps={total_steps!r}"
        )
    if not _is_int(warmup_steps) or not 0 <= warmup_steps < total_steps:
        raise ValueError(
            "`warmup_steps` must be an int in [0, total_steps). Received: "
            f"warmup_steps={warmup_steps!r}, total_steps={total_steps}"
        )


def _check_rates(peak_learning_rate, end_learning_rate):
    if not peak_learning_rate > 0:
        raise ValueError(
            "`peak_learning_rate` must be > 0. Received: "
            f"peak_learning_rate={peak_learning_rate!r}"
        )
    if not 0 <= end_learning_rate <= peak_learning_rate:
        raise ValueError(
            "`end_learning_rate` must be in [0, peak_learning_rate]. Received: "
            f"end_learning_rate={end_learning_rate!r}, "
            f"peak_learning_rate={peak_learning_rate!r}"
        )


def _warmup_factor(step, warmup_steps):
    # `step / warmup` (0 at step 0), as in BERT and HF `get_*_schedule_with_warmup`.
    if warmup_steps == 0:
        return ops.ones_like(step)
    return ops.minimum(step / float(warmup_steps), 1.0)


def _decay_progress(step, warmup_steps, total_steps):
    progress = (step - float(warmup_steps)) / float(total_steps - warmup_steps)
    return ops.clip(progress, 0.0, 1.0)


class _WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to a peak, then `end + (peak - end) * shape(p)` (subclasses give `shape`)."""

    def __init__(
        self,
        peak_learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        end_learning_rate: float = 0.0,
    ):
        _check_steps(total_steps, warmup_steps)
        _check_rates(peak_learning_rate, end_learning_rate)
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.end_learning_rate = float(end_learning_rate)

    def _shape(self, progress):
        """The decay curve: 1 at the end of warmup, 0 at `total_steps`."""
        raise NotImplementedError

    def __call__(self, step):
        step = ops.cast(step, "float32")
        p = _decay_progress(step, self.warmup_steps, self.total_steps)
        decayed = self.end_learning_rate + (
            self.peak_learning_rate - self.end_learning_rate
        ) * self._shape(p)
        warm = self.peak_learning_rate * _warmup_factor(step, self.warmup_steps)
        return ops.where(step < float(self.warmup_steps), warm, decayed)

    def get_config(self) -> dict:
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "end_learning_rate": self.end_learning_rate,
        }


@keras.saving.register_keras_serializable(package="kerasft")
class WarmupLinearDecay(_WarmupDecay):
    """Linear warmup from 0 to a peak, then linear decay to a floor.

    With `p = clip((step - warmup_steps) / (total_steps - warmup_steps), 0, 1)`:
    `lr = peak * step / warmup_steps` while `step < warmup_steps`, otherwise
    `lr = end + (peak - end) * (1 - p)`. Steps past `total_steps` stay at `end`.

    Args:
        peak_learning_rate: the rate reached at the end of warmup.
        total_steps: the number of optimizer steps of the whole run.
        warmup_steps: the number of warmup steps (0 for none).
        end_learning_rate: the floor reached at `total_steps`.

    Example:
    >>> schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    >>> round(float(schedule(5)), 6), round(float(schedule(55)), 6)
    (0.0005, 0.0005)
    """

    def _shape(self, progress):
        return 1.0 - progress


@keras.saving.register_keras_serializable(package="kerasft")
class WarmupCosineDecay(_WarmupDecay):
    """Linear warmup from 0 to a peak, then half-cosine decay to a floor.

    With `p = clip((step - warmup_steps) / (total_steps - warmup_steps), 0, 1)`:
    `lr = peak * step / warmup_steps` while `step < warmup_steps`, otherwise
    `lr = end + (peak - end) * 0.5 * (1 + cos(pi * p))`. Arguments as in
    `WarmupLinearDecay`.

    Example:
    >>> schedule = WarmupCosineDecay(1e-3, total_steps=110, warmup_steps=10)
    >>> round(float(schedule(60)), 6)
    0.0005
    """

    def _shape(self, progress):
        return 0.5 * (1.0 + ops.cos(math.pi * progress))


@keras.saving.register_keras_serializable(package="kerasft")
class WarmupConstant(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to a rate, then constant.

    `lr = rate * min(step / warmup_steps, 1)` (`rate` throughout when
    `warmup_steps=0`).

    Args:
        learning_rate: the rate after warmup.
        warmup_steps: the number of warmup steps (0 for none).

    Example:
    >>> round(float(WarmupConstant(1e-3, warmup_steps=10)(5)), 6)
    0.0005
    """

    def __init__(self, learning_rate: float, warmup_steps: int = 0):
        if not learning_rate > 0:
            raise ValueError(
                "`learning_rate` must be > 0. Received: "
                f"learning_rate={learning_rate!r}"
            )
        if not _is_int(warmup_steps) or warmup_steps < 0:
            raise ValueError(
                "`warmup_steps` must be an int >= 0. Received: "
                f"warmup_steps={warmup_steps!r}"
            )
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        return self.learning_rate * _warmup_factor(step, self.warmup_steps)

    def get_config(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
        }


@keras.saving.register_keras_serializable(package="kerasft")
class SlantedTriangular(keras.optimizers.schedules.LearningRateSchedule):
    """Slanted triangular learning rate (ULMFiT, Howard & Ruder 2018, eq. 3).

    With `T = total_steps` and `cut = floor(T * cut_frac)`:
    `p = t / cut` if `t < cut`, else
    `p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))`, and
    `lr = max_lr * (1 + p * (ratio - 1)) / ratio`. `p` is clipped at 0, so
    steps past `T` stay at `max_lr / ratio`.

    Args:
        max_learning_rate: the peak rate, reached at step `cut`.
        total_steps: the number of optimizer steps of the whole run.
        cut_frac: the fraction of steps spent increasing the rate.
        ratio: how much smaller the lowest rate is than the peak.

    Example:
    >>> schedule = SlantedTriangular(0.01, total_steps=100)
    >>> round(float(schedule(10)), 6), round(float(schedule(100)) * 32, 6)
    (0.01, 0.01)
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        cut_frac: float = 0.1,
        ratio: float = 32.0,
    ):
        _check_steps(total_steps, 0)
        if not max_learning_rate > 0:
            raise ValueError(
                "`max_learning_rate` must be > 0. Received: "
                f"max_learning_rate={max_learning_rate!r}"
            )
        if not 0 < cut_frac < 1:
            raise ValueError(
                f"`cut_frac` must be in (0, 1). Received: cut_frac={cut_frac!r}"
            )
        if not ratio >= 1:
            raise ValueError(f"`ratio` must be >= 1. Received: ratio={ratio!r}")
        if math.floor(total_steps * cut_frac) < 1:
            raise ValueError(
                "`total_steps * cut_frac` must be >= 1 so the rate has at "
                f"least one increasing step. Received: total_steps={total_steps}"
                f", cut_frac={cut_frac}. Raise either of them."
            )
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = int(total_steps)
        self.cut_frac = float(cut_frac)
        self.ratio = float(ratio)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        cut = float(math.floor(self.total_steps * self.cut_frac))
        rising = step / cut
        falling = 1.0 - (step - cut) / (cut * (1.0 / self.cut_frac - 1.0))
        p = ops.maximum(ops.where(step < cut, rising, falling), 0.0)
        return self.max_learning_rate * (1.0 + p * (self.ratio - 1.0)) / self.ratio

    def get_config(self) -> dict:
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "cut_frac": self.cut_frac,
            "ratio": self.ratio,
        }
