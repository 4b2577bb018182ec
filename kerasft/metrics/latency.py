"""Latency of repeated calls: percentiles in milliseconds, for the serving-cost figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def latency_summary(seconds: Sequence[float]) -> dict:
    """p50, p90 and mean of per-call times, in milliseconds.

    Args:
        seconds: the wall time of each call.

    Example:
    >>> latency_summary([0.001, 0.002, 0.003])["latency_ms_p50"]
    2.0
    """
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    if ms.size == 0:
        raise ValueError("`seconds` must hold at least one call's time. Received: none.")
    return {
        "latency_ms_p50": round(float(np.percentile(ms, 50)), 3),
        "latency_ms_p90": round(float(np.percentile(ms, 90)), 3),
        "latency_ms_mean": round(float(ms.mean()), 3),
        "calls": int(ms.size),
    }
