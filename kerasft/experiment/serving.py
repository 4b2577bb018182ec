"""What each regime costs to serve: its best model exported, timed at batch 1, weighed.

Every neural regime's best-validation model (largest label budget) is
exported to `OUTPUT_DIR/serving/REGIME/N/` exactly as `kerasft-export`
would (tokenization in the graph), then called one text at a time on test
texts (`kerasft.export.serving_cost`). The baseline reports the same numbers
for its fitted scikit-learn model (`kerasft.baselines.common.predict_cost`).
"""

from __future__ import annotations

import os
import time

from absl import logging

from kerasft.experiment.cache import cached_run
from kerasft.experiment.runs import best_validation_run

_REQUESTS = 100  # distinct test texts cycled through the timed calls


def _measure(run: dict, texts: list[str], export_dir: str, name: str) -> dict:
    from kerasft.export.saved_model import export_model
    from kerasft.export.serving_cost import measure_saved_model
    from kerasft.task import load_model

    start = time.time()
    model = load_model(os.path.join(run["run_dir"], "model.keras"), compile=False)
    # Verified by the winner's export; here only its cost is of interest.
    version_dir = export_model(model, export_dir, name, keep=1, verify=False)
    export_seconds = time.time() - start
    cost = measure_saved_model(version_dir, texts)
    logging.info(
        "Serving cost of %s: p50 %.2f ms a text (batch 1), %.1f MB.",
        name, cost["latency_ms_p50"], cost["size_bytes"] / 1e6,
    )
    return {**cost, "version_dir": str(version_dir), "seed": run["seed"],
            "export_seconds": round(export_seconds, 2)}


def serving_costs(
    results: dict, test_texts: list[str], export_dir: str, reuse: bool
) -> dict[str, dict]:
    """Batch-1 latency (p50) and size of every regime's servable model.

    Args:
        results: the experiment's results (regimes with their runs, `metric`).
        test_texts: the test split's texts (the first `_REQUESTS` are sent).
        export_dir: where the measured exports go (`OUTPUT_DIR/serving`).
        reuse: reuse a measurement of the same run.

    Returns:
        regime -> `{"latency_ms_p50", "latency_ms_p90", "size_bytes", ...}`.

    Example:
    >>> costs = serving_costs(results, texts, "runs/demo/serving", True)  # doctest: +SKIP
    >>> costs["scratch"]["latency_ms_p50"]  # doctest: +SKIP
    3.1
    """
    metric = results["metric"]
    texts = test_texts[:_REQUESTS]
    out = {}
    for name, entry in results["regimes"].items():
        run = best_validation_run(entry["runs"], metric)
        if entry.get("baseline"):
            out[name] = {**(run.get("serving") or {}), "seed": run["seed"]}
            continue
        spec = {"run_dir": run["run_dir"], "test": run["test"], "requests": _REQUESTS}
        out[name] = cached_run(
            os.path.join(export_dir, name), spec,
            lambda: _measure(run, texts, export_dir, name),
            reuse=reuse, what="serving measurement",
        )
    return out
