"""Layer-wise (discriminative) learning rates as Keras optimizer subclasses.

Rather than one optimizer per layer group (`keras.optimizers.MultiOptimizer`,
which hides `learning_rate` from callbacks and splits the step counter), a
single optimizer scales its one learning rate per variable. Schedules,
`LearningRateScheduler` and `ReduceLROnPlateau` therefore act on the base
rate and every layer follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import keras
from keras import ops

_EMBEDDING_LAYERS = (
    "token_embedding",
    "position_embedding",
    "segment_embedding",
    "embeddings_layer_norm",
)


def layerwise_lr_multipliers(num_layers: int, decay: float) -> dict[str, float]:
    """Learning-rate multipliers decaying from the top of a BERT backbone.

    With `L = num_layers`, matched by `re.search` against `variable.path`:
    `transformer_layer_{i}` gets `decay ** (L - i)` (so the top layer,
    `transformer_layer_{L-1}`, gets `decay`), and the embeddings
    (`token_embedding`, `position_embedding`, `segment_embedding`,
    `embeddings_layer_norm`) get `decay ** (L + 1)`. Everything else — the
    `pooled_dense` pooler and the task heads — keeps multiplier 1.

    Args:
        num_layers: the number of transformer layers of the backbone.
        decay: the per-layer factor in (0, 1].

    Example:
    >>> m = layerwise_lr_multipliers(num_layers=2, decay=0.5)
    >>> sorted(m.values())
    [0.125, 0.25, 0.5]
    """
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(
            "`num_layers` must be an int >= 1 (the backbone's transformer "
            f"layer count). Received: num_layers={num_layers!r}"
        )
    if not 0 < decay <= 1:
        raise ValueError(f"`decay` must be in (0, 1]. Received: decay={decay!r}")
    multipliers = {
        rf"(^|/)transformer_layer_{i}/": float(decay ** (num_layers - i))
        for i in range(num_layers - 1, -1, -1)
    }
    embeddings = "|".join(_EMBEDDING_LAYERS)
    multipliers[rf"(^|/)({embeddings})/"] = float(decay ** (num_layers + 1))
    return multipliers


def lr_multiplier_for(path: str, lr_multipliers: Mapping[str, float]) -> float:
    """The multiplier of the first pattern that `re.search`-matches `path`.

    Args:
        path: a variable path, e.g. `"transformer_layer_0/.../kernel"`.
        lr_multipliers: regex pattern to multiplier, checked in order.

    Example:
    >>> lr_multiplier_for("classifier/kernel", {"^transformer": 0.5})
    1.0
    """
    for pattern, multiplier in lr_multipliers.items():
        if re.search(pattern, path):
            return float(multiplier)
    return 1.0


def _validate_multipliers(lr_multipliers):
    if lr_multipliers is None:
        return {}
    if not isinstance(lr_multipliers, Mapping):
        raise TypeError(
            "`lr_multipliers` must be a dict of regex pattern to float. "
            f"Received: lr_multipliers={lr_multipliers!r}"
        )
    checked = {}
    for pattern, multiplier in lr_multipliers.items():
        try:
            re.compile(pattern)
        except (re.error, TypeError) as e:
            raise ValueError(
                "Every key of `lr_multipliers` must be a valid regex. "
                f"Received: {pattern!r} ({e})"
            ) from None
        if not isinstance(multiplier, (int, float)) or multiplier < 0:
            raise ValueError(
                "Every value of `lr_multipliers` must be a number >= 0. "
                f"Received: {pattern!r}: {multiplier!r}"
            )
        checked[pattern] = float(multiplier)
    return checked


class LayerwiseLearningRateMixin:
    """Scales an optimizer's learning rate per variable by regex on its path.

    Mix in before a Keras optimizer class. Each variable's step uses
    `learning_rate * lr_multiplier_for(variable.path, lr_multipliers)`, and
    so does its decoupled weight decay (`variable -= lr * m * wd * variable`,
    as with per-group rates in other frameworks). Multipliers are resolved
    when the optimizer is built.

    Args:
        lr_multipliers: regex pattern to multiplier (see
            `layerwise_lr_multipliers`); unmatched variables use 1.
        weight_decay_exclusions: variable-name substrings to exclude from
            weight decay (as `exclude_from_weight_decay(var_names=...)`, but
            kept in the config so a reloaded optimizer keeps them).
        **kwargs: arguments of the optimizer class.

    Example:
    >>> class LayerwiseLion(LayerwiseLearningRateMixin, keras.optimizers.Lion):
    ...     pass
    >>> opt = LayerwiseLion(learning_rate=1e-4, lr_multipliers={"^emb": 0.1})
    """

    def __init__(
        self,
        *args,
        lr_multipliers: Mapping[str, float] | None = None,
        weight_decay_exclusions: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.lr_multipliers = _validate_multipliers(lr_multipliers)
        self.weight_decay_exclusions = []
        self._lr_multiplier_by_key = {}
        if weight_decay_exclusions:
            self.exclude_from_weight_decay(var_names=weight_decay_exclusions)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)
        self.weight_decay_exclusions = list(var_names or [])

    def build(self, variables):
        # `update_step` may see the backend's raw variable (no `.path`), so
        # resolve multipliers here, keyed like the optimizer's own slots.
        for variable in variables:
            self._lr_multiplier_by_key[self._var_key(variable)] = (
                lr_multiplier_for(variable.path, self.lr_multipliers)
            )
        super().build(variables)

    def lr_multiplier(self, variable) -> float:
        """The multiplier used for `variable` (1 if unknown)."""
        return self._lr_multiplier_by_key.get(self._var_key(variable), 1.0)

    def _apply_weight_decay(self, variables):
        # Applied in `update_step` instead, where the multiplier is known.
        return

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self.lr_multiplier(variable)
        learning_rate = ops.cast(learning_rate, variable.dtype)
        if multiplier != 1.0:
            learning_rate = learning_rate * multiplier
        if self.weight_decay is not None and self._use_weight_decay(variable):
            wd = ops.cast(self.weight_decay, variable.dtype)
            self.assign_sub(variable, variable * wd * learning_rate)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        config = super().get_config()
        config["lr_multipliers"] = dict(self.lr_multipliers)
        config["weight_decay_exclusions"] = list(self.weight_decay_exclusions)
        return config


@keras.saving.register_keras_serializable(package="kerasft")
class LayerwiseAdamW(LayerwiseLearningRateMixin, keras.optimizers.AdamW):
    """AdamW with per-variable learning-rate multipliers.

    Args:
        lr_multipliers: regex pattern on `variable.path` to multiplier.
        weight_decay_exclusions: variable-name substrings without decay.
        **kwargs: `keras.optimizers.AdamW` arguments.

    Example:
    >>> opt = LayerwiseAdamW(
    ...     learning_rate=2e-5,
    ...     lr_multipliers=layerwise_lr_multipliers(num_layers=12, decay=0.9))
    """


@keras.saving.register_keras_serializable(package="kerasft")
class LayerwiseAdam(LayerwiseLearningRateMixin, keras.optimizers.Adam):
    """Adam with per-variable learning-rate multipliers.

    Args:
        lr_multipliers: regex pattern on `variable.path` to multiplier.
        weight_decay_exclusions: variable-name substrings without decay.
        **kwargs: `keras.optimizers.Adam` arguments.

    Example:
    >>> opt = LayerwiseAdam(lr_multipliers={"^transformer_layer_0/": 0.5})
    """


@keras.saving.register_keras_serializable(package="kerasft")
class LayerwiseSGD(LayerwiseLearningRateMixin, keras.optimizers.SGD):
    """SGD with per-variable learning-rate multipliers.

    Args:
        lr_multipliers: regex pattern on `variable.path` to multiplier.
        weight_decay_exclusions: variable-name substrings without decay.
        **kwargs: `keras.optimizers.SGD` arguments.

    Example:
    >>> opt = LayerwiseSGD(0.1, lr_multipliers={"^transformer_layer_0/": 0.5})
    """
