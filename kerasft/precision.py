"""Training precision: float32, or Keras's mixed bfloat16 dtype policy.

`mixed_bfloat16` computes in bfloat16 and keeps variables (and so the saved
weights, the optimizer state and the losses) in float32; bfloat16 has
float32's exponent range, so no loss scaling is needed. Every layer built
inside `use_precision` takes the policy, and `kerasft.load_backbone` builds
the backbone it loads in the current one, so a float32 checkpoint trains in
bfloat16 and a bfloat16-trained one loads back as float32. Exports keep
float32 outputs (`kerasft.export`), whatever the model computed in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

PRECISIONS = ("float32", "mixed_bfloat16")


def check_precision(precision: str) -> None:
    """Refuse a precision kerasft does not train in."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {PRECISIONS}. Received: precision={precision!r}. "
            "mixed_float16 needs loss scaling, which kerasft does not do; use "
            "mixed_bfloat16 (CPUs with AVX-512 BF16 or AMX, Ampere+ GPUs, TPUs)."
        )


def current_precision() -> str:
    """The dtype policy new layers take now (`float32` unless changed)."""
    return keras.config.dtype_policy().name


@contextlib.contextmanager
def use_precision(precision: str) -> Iterator[None]:
    """Build and train in `precision` inside the block; restore the policy after.

    Example:
    >>> with use_precision("mixed_bfloat16"):
    ...     layer = keras.layers.Dense(2)
    >>> layer.compute_dtype, layer.variable_dtype, current_precision()
    ('bfloat16', 'float32', 'float32')
    """
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
