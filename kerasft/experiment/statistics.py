"""Summaries over seeds: mean and sample standard deviation of each run number."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def mean_std(values: Sequence[float | None]) -> dict:
    """Mean and sample standard deviation of the numbers present.

    Args:
        values: one number a seed; None and NaN (a missing number) are skipped.

    Returns:
        `{"mean", "std", "n"}`; mean and std are None when nothing is left.

    Example:
    >>> mean_std([0.5, 0.7, None])
    {'mean': 0.6, 'std': 0.14142135623730948, 'n': 2}
    """
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    # Sample standard deviation across seeds (0 for a single seed).
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "std": std, "n": len(values)}


def summarize(runs: Sequence[Mapping[str, float]], keys: Iterable[str]) -> dict:
    """`mean_std` of each key over runs (a run lacking a key counts as missing).

    Args:
        runs: one mapping of numbers a seed.
        keys: the numbers to summarize.

    Example:
    >>> summarize([{"f1": 0.5}, {"f1": 0.7}], ["f1"])["f1"]["n"]
    2
    """
    return {key: mean_std([r.get(key) for r in runs]) for key in keys}
