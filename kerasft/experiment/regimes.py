"""Run the pretraining-regime experiment: every regime, every seed, one report."""

from __future__ import annotations

import dataclasses
import os
import time

from absl import logging

from kerasft.atomic_files import write_json, write_text
from kerasft.data.corpus_stream import iter_texts
from kerasft.experiment import runs
from kerasft.experiment.config import MINILM_REGIMES, TITLES, ExperimentConfig, pick_metric
from kerasft.experiment.contamination import plan_leakage
from kerasft.experiment.dataset import split_files
from kerasft.experiment.decision import BASELINE, decide, export_winner
from kerasft.experiment.label_budget import (
    fraction_name,
    stratum_keys,
    write_label_subsets,
)
from kerasft.experiment.plan import default_minilm_dir, pretraining_plan
from kerasft.experiment.plots import plot_label_curve, plot_learning_curves, plot_test_metric
from kerasft.experiment.report import render_report
from kerasft.experiment.serving import serving_costs
from kerasft.experiment.statistics import mean_std, summarize


def _budget_dir(root: str, budget: dict) -> str:
    # The whole train split keeps the layout of experiments without a curve.
    if budget["fraction"] == 1:
        return root
    return os.path.join(root, fraction_name(budget["fraction"]))


def _run_regime(
    config: ExperimentConfig, name: str, files: dict[str, str], budgets: list[dict],
    test_texts: list[str], output_dir: str, verbose: int | str, metric: str,
) -> tuple[dict, str]:
    """One regime's pretraining (if any), leakage and runs at every label budget."""
    logging.info("Regime %s: %s", name, TITLES[name])
    plan = pretraining_plan(config, name, files)
    entry: dict = {"title": TITLES[name], "transductive": False, "pretraining": None}
    backbone = ""
    if name == "off_the_shelf":
        backbone = config.minilm_dir or default_minilm_dir()
    elif plan is not None:
        # Pretraining reads the whole train text, whatever the label budget.
        pre = runs.pretrain(
            plan, os.path.join(output_dir, "pretrain", name), config.reuse, verbose
        )
        entry["pretraining"] = pre
        entry["transductive"] = pre["transductive"]
        backbone = pre["backbone"]
    entry["leakage"], entry["leakage_note"] = plan_leakage(name, plan, test_texts)
    entry["label_curve"] = []
    for budget in budgets:
        budget_files = {**files, "train": budget["train"]}
        if name == BASELINE:
            record = runs.baseline(
                config, budget_files,
                _budget_dir(os.path.join(output_dir, "baseline"), budget), config.reuse,
            )
            entry["baseline"], entry["params"] = record["name"], record["params"]
            # Deterministic: one run stands for every seed, so comparisons stay paired.
            done = [{**record, "seed": seed} for seed in config.seeds]
            metric = metric or pick_metric(config.metric, record["test"])
        else:
            done = []
            for seed in config.seeds:
                run_dir = os.path.join(
                    _budget_dir(os.path.join(output_dir, "finetune", name), budget),
                    f"seed-{seed}",
                )
                done.append(runs.finetune(
                    runs.finetune_config(config, budget_files, backbone, seed,
                                         small=name not in MINILM_REGIMES),
                    run_dir,
                    config.reuse, verbose, entry["pretraining"],
                ))
                # Checked on the first run: a typo must not cost the whole experiment.
                metric = metric or pick_metric(config.metric, done[-1]["test"])
        entry["label_curve"].append(
            {"fraction": budget["fraction"], "examples": budget["examples"], "runs": done}
        )
    # The largest budget is the one of the main table and the verdict.
    entry["runs"] = entry["label_curve"][-1]["runs"]
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
    write_json(os.path.join(output_dir, "config.json"), dataclasses.asdict(config))

    started = time.time()
    head_cls = get_head(config.head)
    train = head_cls.read_examples(files["train"])
    labels = head_cls.labels_from_examples(train)
    keys = stratum_keys(head_cls.target_kind, head_cls(labels=labels).gold_labels(train))
    budgets = write_label_subsets(
        files["train"], keys, config.label_fractions,
        os.path.join(output_dir, "labels"), seed=config.pretrain_seed,
    )
    regimes: dict[str, dict] = {}
    metric = ""
    for name in config.regimes:
        regimes[name], metric = _run_regime(
            config, name, files, budgets, test_texts, output_dir, verbose, metric
        )

    for entry in regimes.values():
        for point in entry["label_curve"]:
            done = point["runs"]
            point["test"] = summarize([r["test"] for r in done], done[0]["test"])
        done = entry["runs"]
        for split in ("test", "validation"):
            entry[split] = summarize([r[split] for r in done], done[0][split])
        entry["finetune_seconds"] = mean_std([r["train_seconds"] for r in done])
        entry["finetune_tokens"] = mean_std([r.get("train_tokens") for r in done])
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
            + sum(r["train_seconds"] for p in e["label_curve"] for r in p["runs"])
            for e in regimes.values()
        ), 2),
        "label_budgets": budgets,
        "regimes": regimes,
        "figures": {},
    }
    if config.measure_serving:
        results["serving"] = serving_costs(
            results, test_texts, os.path.join(output_dir, "serving"), config.reuse
        )
    results["decision"] = decide(results, head_cls.target_kind, labels)
    if config.export_winner:
        results["winner"] = export_winner(results, config.export_winner, config.export_dir)
    results["figures"]["test_metric"] = plot_test_metric(
        results, os.path.join(output_dir, "test_metric.png")
    )
    results["figures"]["learning_curves"] = plot_learning_curves(
        results, os.path.join(output_dir, "learning_curves.png")
    )
    if len(budgets) > 1:
        results["figures"]["label_curve"] = plot_label_curve(
            results, os.path.join(output_dir, "label_curve.png")
        )
    write_json(os.path.join(output_dir, "results.json"), results, default=str)
    write_text(os.path.join(output_dir, "report.md"), render_report(results))
    logging.info("Experiment report: %s", os.path.join(output_dir, "report.md"))
    return results

