"""What an exported model costs to serve: batch-1 latency and size on disk.

Measured in-process on the SavedModel itself (`tf.saved_model.load`, the
signature TF Serving calls), so the number covers in-graph tokenization,
the backbone and the head's postprocessing, not the network or TF
Serving's batching. One text a call, as an online request is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from kerasft.metrics.latency import time_calls


def directory_bytes(path: str | os.PathLike) -> int:
    """Total size of the files under `path`.

    Example:
    >>> directory_bytes("saved_models/sentiment/3")  # doctest: +SKIP
    1874512
    """
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path) for name in names
    )


def measure_saved_model(
    saved_model_dir: str | os.PathLike,
    texts: Sequence[str],
    *,
    signature: str = "serving_default",
    calls: int = 100,
    warmup_calls: int = 10,
) -> dict:
    """Batch-1 latency of a signature and the size of a SavedModel version.

    Args:
        saved_model_dir: a version directory (`saved_models/NAME/N`).
        texts: request texts, cycled through (one a call).
        signature: the signature to call.
        calls: timed calls.
        warmup_calls: untimed calls first (tracing, caches).

    Returns:
        `{"latency_ms_p50", "latency_ms_p90", "latency_ms_mean", "calls",
        "size_bytes", "signature"}`.

    Example:
    >>> measure_saved_model("saved_models/sentiment/3", ["a fine film"])  # doctest: +SKIP
    {'latency_ms_p50': 2.1, ...}
    """
    import tensorflow as tf

    model = tf.saved_model.load(os.fspath(saved_model_dir), tags=["serve"])
    if signature not in model.signatures:
        raise ValueError(
            f"No signature {signature!r} in {saved_model_dir}. Signatures: "
            f"{sorted(model.signatures)}."
        )
    fn = model.signatures[signature]

    def request(text: tf.Tensor) -> None:
        for value in fn(text=text).values():
            value.numpy()  # the answer, not just the dispatch

    requests = [tf.constant([t]) for t in texts]
    timing = time_calls(request, requests, calls=calls, warmup_calls=warmup_calls)
    return {
        **timing,
        "size_bytes": directory_bytes(saved_model_dir),
        "signature": signature,
    }
