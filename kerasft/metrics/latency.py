"""Latency of repeated calls: percentiles in milliseconds, for the serving-cost figures."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

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


def time_calls(
    call: Callable[[object], object], inputs: Sequence, *, calls: int = 100,
    warmup_calls: int = 0,
) -> dict:
    """`latency_summary` of `call(input)`, one input a call, cycled through `inputs`.

    Args:
        call: does one request (and waits for its answer).
        inputs: the requests to cycle through.
        calls: timed calls.
        warmup_calls: untimed calls first (tracing, caches).

    Example:
    >>> time_calls(len, ["a", "bb"], calls=4)["calls"]
    4
    """
    if not inputs:
        raise ValueError("`inputs` must hold at least one input. Received: none.")
    for i in range(warmup_calls):
        call(inputs[i % len(inputs)])
    times = []
    for i in range(calls):
        start = time.perf_counter()
        call(inputs[i % len(inputs)])
        times.append(time.perf_counter() - start)
    return latency_summary(times)
