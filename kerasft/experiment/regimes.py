"""Run the pretraining-regime experiment: every regime, every seed, one report."""

from __future__ import annotations

import dataclasses
import json
import os
import time

from absl import logging

from kerasft.data.corpus_stream import iter_texts
from kerasft.experiment import runs
from kerasft.experiment.config import TITLES, ExperimentConfig, pick_metric
from kerasft.experiment.contamination import plan_leakage
from kerasft.experiment.dataset import split_files
from kerasft.experiment.decision import BASELINE, decide, export_winner
from kerasft.experiment.plan import default_minilm_dir, pretraining_plan
from kerasft.experiment.plots import plot_learning_curves, plot_test_metric
from kerasft.experiment.report import render_report
from kerasft.experiment.statistics import mean_std, summarize


def _run_regime(
    config: ExperimentConfig, name: str, files: dict[str, str],
    test_texts: list[str], output_dir: str, verbose: int | str, metric: str,
) -> tuple[dict, str]:
    """One regime's pretraining (if any), leakage and runs; and the metric compared."""
    logging.info("Regime %s: %s", name, TITLES[name])
    if name == BASELINE:
        record = runs.baseline(config, files, os.path.join(output_dir, "baseline"), config.reuse)
        entry = {"title": TITLES[name], "transductive": False, "pretraining": None,
                 "baseline": record["name"], "params": record["params"]}
        entry["leakage"], entry["leakage_note"] = plan_leakage(name, None, test_texts)
        # Deterministic: one run stands for every seed, so comparisons stay paired.
        entry["runs"] = [{**record, "seed": seed} for seed in config.seeds]
        return entry, metric or pick_metric(config.metric, record["test"])
    plan = pretraining_plan(config, name, files)
    entry: dict = {"title": TITLES[name], "transductive": False}
    if plan is None:
        entry["pretraining"] = None
        backbone = (config.minilm_dir or default_minilm_dir()) if (
            name == "off_the_shelf") else ""
    else:
        pre = runs.pretrain(
            plan, os.path.join(output_dir, "pretrain", name), config.reuse, verbose
        )
        entry["pretraining"] = pre
        entry["transductive"] = pre["transductive"]
        backbone = pre["backbone"]
    entry["leakage"], entry["leakage_note"] = plan_leakage(name, plan, test_texts)
    entry["runs"] = []
    for seed in config.seeds:
        run_dir = os.path.join(output_dir, "finetune", name, f"seed-{seed}")
        entry["runs"].append(runs.finetune(
            runs.finetune_config(config, files, backbone, seed), run_dir,
            config.reuse, verbose, entry["pretraining"],
        ))
        # Checked on the first run: a typo must not cost the whole experiment.
        metric = metric or pick_metric(config.metric, entry["runs"][-1]["test"])
    return entry, metric


def run_experiment(
    config: ExperimentConfig, output_dir: str, *, verbose: int | str = 2
) -> dict:
    """Run the selected regimes, fine-tune each with every seed, write the report.

    Args:
        config: an `ExperimentConfig`.
        output_dir: the experiment directory (created): `report.md`,
            `results.json`, the figures and every run directory.
        verbose: Keras verbosity of the pretraining and fine-tuning runs.

    Returns:
        The results also written to `output_dir/results.json`.

    Example:
    >>> results = run_experiment(ExperimentConfig(  # doctest: +SKIP
    ...     head="sentiment", data_dir="../shared/data/sentiment_rt_polarity",
    ...     regimes=("scratch", "self_train")), "runs/experiment")
    >>> results["regimes"]["self_train"]["test"]["accuracy"]["mean"]  # doctest: +SKIP
    0.74
    """
    from kerasft.registry import get_head

    get_head(config.head)  # an unknown head fails before any training
    files = split_files(config.data_dir)
    os.makedirs(output_dir, exist_ok=True)
    test_texts = list(iter_texts(files["test"]))
    with open(os.path.join(output_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(config), f, indent=2)

    started = time.time()
    regimes: dict[str, dict] = {}
    metric = ""
    for name in config.regimes:
        regimes[name], metric = _run_regime(
            config, name, files, test_texts, output_dir, verbose, metric
        )

    for entry in regimes.values():
        done = entry["runs"]
        for split in ("test", "validation"):
            entry[split] = summarize([r[split] for r in done], done[0][split])
        entry["finetune_seconds"] = mean_std([r["train_seconds"] for r in done])
        entry["epochs_run"] = mean_std([r["epochs_run"] for r in done])

    results = {
        "head": config.head,
        "data_dir": config.data_dir,
        "metric": metric,
        "seeds": list(config.seeds),
        "config": dataclasses.asdict(config),
        "seconds": round(time.time() - started, 2),
        "compute_seconds": round(sum(
            (e["pretraining"] or {}).get("wall_seconds", 0.0)
            + sum(r["train_seconds"] for r in e["runs"])
            for e in regimes.values()
        ), 2),
        "regimes": regimes,
        "figures": {},
    }
    head = get_head(config.head)
    labels = head.labels_from_examples(head.read_examples(files["train"]))
    results["decision"] = decide(results, head.target_kind, labels)
    if config.export_winner:
        results["winner"] = export_winner(results, config.export_winner, config.export_dir)
    results["figures"]["test_metric"] = plot_test_metric(
        results, os.path.join(output_dir, "test_metric.png")
    )
    results["figures"]["learning_curves"] = plot_learning_curves(
        results, os.path.join(output_dir, "learning_curves.png")
    )
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    with open(os.path.join(output_dir, "report.md"), "w") as f:
        f.write(render_report(results))
    logging.info("Experiment report: %s", os.path.join(output_dir, "report.md"))
    return results

