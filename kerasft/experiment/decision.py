"""The experiment's decision: paired confidence intervals, the verdict, the winner shipped.

After every regime has run, this module reads each run's per-example test
predictions (`test_predictions.json`), compares every regime with the best
and with `scratch` by a paired bootstrap over test examples pooled over
seeds (`comparison.py`), picks the recommendation (`verdict.py`) and, when
asked, exports the recommended regime's best fine-tuned model to TF Serving.
"""

from __future__ import annotations

import json
import os
import time

from absl import logging

from kerasft.experiment import comparison
from kerasft.experiment.runs import best_validation_run
from kerasft.experiment.verdict import best_regime, recommend
from kerasft.finetuning.trainer import PREDICTIONS_FILE

BASELINE = "baseline"


def _metric_fn(metric: str, target_kind: str, labels: list[str]):
    # The paired bootstrap recomputes the report's own number on resamples.
    if metric == "accuracy" and target_kind == "class":
        return comparison.accuracy
    if metric == "macro_f1" and target_kind == "class":
        return comparison.macro_f1(labels)
    if metric == "f1" and target_kind == "token":
        bioes = any(label[:2] in ("E-", "S-") for label in labels)
        return comparison.entity_f1("bioes" if bioes else None)
    return None


def read_predictions(run: dict) -> tuple[list, list] | None:
    """A run's `(gold, predicted)` test labels, or None when it wrote none."""
    path = run.get("predictions") or os.path.join(run["run_dir"], PREDICTIONS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    return record["gold"], record["predicted"]


def compare(results: dict, target_kind: str, labels: list[str], *, seed: int = 0) -> dict:
    """Paired confidence intervals of every regime against the best and against scratch.

    Args:
        results: the experiment's results (`regimes` with their runs, `metric`).
        target_kind: the head's `target_kind` (which metrics can be resampled).
        labels: the label vocabulary (macro-F1 and the tag scheme need it).
        seed: the bootstrap's seed.

    Returns:
        `{"best", "metric", "means", "vs_best": {regime: interval},
        "vs_scratch": {...}, "sentences": [...]}`, or `{"skipped": reason}`.
    """
    metric = results["metric"]
    metric_fn = _metric_fn(metric, target_kind, labels)
    if metric_fn is None:
        return {"skipped": f"no paired bootstrap for metric {metric!r} of this head kind"}
    gold, predictions = None, {}
    for name, entry in results["regimes"].items():
        per_seed = {}
        for run in entry["runs"]:
            read = read_predictions(run)
            if read is None:
                return {"skipped": f"run {run.get('run_dir')} wrote no test predictions"}
            if gold is None:
                gold = read[0]
            elif read[0] != gold:
                return {"skipped": f"run {run.get('run_dir')} was tested on other examples"}
            per_seed[run["seed"]] = read[1]
        predictions[name] = per_seed
    means = {name: e["test"].get(metric, {}).get("mean") for name, e in results["regimes"].items()}
    transductive = {n for n, e in results["regimes"].items() if e["transductive"]}
    best = best_regime(means, transductive=transductive)
    out = {"best": best, "metric": metric, "means": means, "transductive": sorted(transductive)}
    out["vs_best"] = comparison.compare_regimes(metric_fn, gold, predictions, best, seed=seed)
    sentences = [
        comparison.describe(name, best, out["vs_best"][name], metric)
        for name in predictions if name != best
    ]
    if "scratch" in predictions:
        out["vs_scratch"] = comparison.compare_regimes(
            metric_fn, gold, predictions, "scratch", seed=seed
        )
    # When scratch is the best, its sentences are the ones above.
    if "scratch" in predictions and best != "scratch":
        sentences += [
            comparison.describe(name, "scratch", out["vs_scratch"][name], metric)
            for name in predictions if name not in ("scratch", best)
        ]
    out["sentences"] = sentences
    return out


def costs(results: dict) -> dict[str, dict]:
    """Seconds each regime cost: its pretraining plus one fine-tuning (mean over seeds).

    What the verdict ranks by; `cost_details` adds tokens and serving.
    """
    out = {}
    for name, entry in results["regimes"].items():
        pre = entry["pretraining"] or {}
        out[name] = {
            "pretraining": pre.get("wall_seconds", 0.0),
            "finetuning": entry["finetune_seconds"]["mean"],
        }
    return out


def cost_details(results: dict) -> dict[str, dict]:
    """The report's cost table: seconds, tokens, serving latency and size per regime."""
    serving = results.get("serving") or {}
    out = {}
    for name, entry in results["regimes"].items():
        pre = entry["pretraining"] or {}
        served = serving.get(name) or {}
        out[name] = {
            "pretraining_seconds": pre.get("wall_seconds"),
            "pretraining_tokens": pre.get("tokens"),
            "finetuning_seconds": entry["finetune_seconds"]["mean"],
            "finetuning_tokens": (entry.get("finetune_tokens") or {}).get("mean"),
            "latency_ms_p50": served.get("latency_ms_p50"),
            "size_bytes": served.get("size_bytes"),
        }
    return out


def label_curve_comparisons(
    results: dict, target_kind: str, labels: list[str], *, seed: int = 0
) -> list[dict]:
    """`compare` at every label budget but the largest (which `decide` covers).

    Each budget's runs are compared as the full ones are: paired by seed,
    on the same subset and test examples.
    """
    out = []
    budgets = results.get("label_budgets") or []
    for i, budget in enumerate(budgets[:-1]):
        view = {"metric": results["metric"], "regimes": {
            name: {"runs": entry["label_curve"][i]["runs"],
                   "test": entry["label_curve"][i]["test"],
                   "transductive": entry["transductive"]}
            for name, entry in results["regimes"].items()
        }}
        out.append({"fraction": budget["fraction"], "examples": budget["examples"],
                    **compare(view, target_kind, labels, seed=seed)})
    return out


def decide(results: dict, target_kind: str, labels: list[str]) -> dict:
    """The comparisons and the verdict (`verdict.recommend`) of an experiment's results.

    Example:
    >>> decision = decide(results, "class", ["negative", "positive"])  # doctest: +SKIP
    >>> decision["verdict"]["regime"]  # doctest: +SKIP
    'off_the_shelf'
    """
    comparisons = compare(results, target_kind, labels)
    decision = {"comparisons": comparisons, "costs": costs(results),
                "cost_details": cost_details(results),
                "label_curve": label_curve_comparisons(results, target_kind, labels)}
    if "skipped" in comparisons:
        logging.warning("No confidence intervals: %s.", comparisons["skipped"])
        return decision
    vs_best = {n: r for n, r in comparisons["vs_best"].items() if n != comparisons["best"]}
    decision["verdict"] = recommend(
        comparisons["means"], vs_best, decision["costs"],
        transductive=comparisons["transductive"],
        baseline=BASELINE if BASELINE in results["regimes"] else None,
        metric=comparisons["metric"],
    )
    return decision


def export_winner(results: dict, name: str, export_dir: str) -> dict:
    """Export the recommended regime's best-validation model to `export_dir/name/N/`.

    The baseline is not a Keras model, so when it is recommended the best
    neural regime that is not transductive is exported instead (and the
    record says so).

    Args:
        results: the results with their `decision`.
        name: the served model name (`saved_models/NAME/`).
        export_dir: the export root.

    Returns:
        `{"regime", "seed", "run_dir", "version_dir", "seconds", "note"}`.
    """
    from kerasft.export.saved_model import export_model
    from kerasft.task import load_model

    verdict = results["decision"].get("verdict")
    if verdict is None:
        raise ValueError(
            "`export_winner` needs a verdict, and this experiment has none "
            f"({results['decision']['comparisons'].get('skipped')})."
        )
    regime, note = verdict["regime"], ""
    if regime == BASELINE:
        means = results["decision"]["comparisons"]["means"]
        neural = {n: m for n, m in means.items() if n != BASELINE}
        regime = best_regime(neural, transductive=results["decision"]["comparisons"]["transductive"])
        note = (f"The baseline is recommended but is not a TF Serving model; "
                f"the best neural regime, {regime}, is exported.")
    metric = results["metric"]
    runs = results["regimes"][regime]["runs"]
    best_run = best_validation_run(runs, metric)
    start = time.time()
    model = load_model(os.path.join(best_run["run_dir"], "model.keras"), compile=False)
    version_dir = export_model(model, export_dir, name)
    record = {
        "regime": regime, "seed": best_run["seed"], "run_dir": best_run["run_dir"],
        "version_dir": str(version_dir), "seconds": round(time.time() - start, 2),
        "note": note,
    }
    logging.info("Exported %s (seed %d) to %s.", regime, best_run["seed"], version_dir)
    return record
