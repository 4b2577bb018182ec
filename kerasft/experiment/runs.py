"""One regime's runs: its pretraining and a fine-tuning a seed, reused when finished."""

from __future__ import annotations

import dataclasses
import json
import os
import time

from kerasft.atomic_files import write_json
from kerasft.experiment.cache import cached_run
from kerasft.experiment.config import ExperimentConfig
from kerasft.experiment.plan import Pretraining, check_held_out
from kerasft.finetuning.config import FinetuneConfig, FinetuneRecipe
from kerasft.finetuning.trainer import PREDICTIONS_FILE, RESUMABLE_STRATEGIES
from kerasft.registry import get_head


def pretrain(plan: Pretraining, run_dir: str, reuse: bool, verbose: int | str) -> dict:
    """Run (or reuse) one pretraining; returns its budget and MLM losses.

    Args:
        plan: the regime's pretraining (`pretraining_plan`).
        run_dir: the pretraining's run directory.
        reuse: reuse a finished run with the same settings.
        verbose: Keras verbosity.

    Example:
    >>> pre = pretrain(plan, "runs/experiment/pretrain/self_train", True, 0)  # doctest: +SKIP
    >>> pre["backbone"]  # doctest: +SKIP
    'runs/experiment/pretrain/self_train/backbone'
    """
    spec = {"run": dataclasses.asdict(plan.run_config),
            "train": dataclasses.asdict(plan.train_config)}
    return cached_run(
        run_dir, spec, lambda resume: _run_pretraining(plan, run_dir, verbose, resume),
        reuse=reuse, what="pretraining", resumable=True,
    )


def _run_pretraining(plan: Pretraining, run_dir: str, verbose: int | str,
                     resume: bool) -> dict:
    import keras

    from kerasft.pretraining.loop import MLM_ACCURACY_KEY, MLM_LOSS_KEY
    from kerasft.pretraining.run import run_pretraining

    check_held_out(plan)
    start = time.time()
    keras.utils.set_random_seed(plan.train_config.seed)
    metrics = run_pretraining(
        plan.run_config, plan.train_config, run_dir, resume=resume, verbose=verbose
    )
    wall = time.time() - start
    loss_key = MLM_LOSS_KEY[metrics["objective"]]
    accuracy_key = MLM_ACCURACY_KEY[metrics["objective"]]
    steps = int(metrics["steps"])
    return {
        "backbone": os.path.join(run_dir, "backbone"),
        "corpora": list(plan.corpora),
        "init_backbone": plan.run_config.init_backbone,
        "steps": steps,
        # After an interruption `seconds` counts the resumed part only.
        "resumed_from_step": int(metrics.get("resumed_from_step", 0)),
        "batch_size": plan.train_config.batch_size,
        "sequence_length": plan.run_config.sequence_length,
        "sequences": steps * plan.train_config.batch_size,
        "tokens": int(metrics["tokens_seen"]),
        "seconds": float(metrics["seconds"]),
        "wall_seconds": round(wall, 2),
        "objective": metrics["objective"],
        "mlm_loss_before": metrics.get("validation_before", {}).get(loss_key),
        "mlm_loss_after": metrics.get("validation_after", {}).get(loss_key),
        "mlm_accuracy_after": metrics.get("validation_after", {}).get(accuracy_key),
        "unigram_loss": metrics.get("unigram", {}).get("loss"),
        "vocabulary_size": metrics.get("vocabulary_size"),
        "transductive": bool(metrics.get("transductive_test_text", False)),
    }


def finetune_config(
    config: ExperimentConfig, files: dict, backbone: str, seed: int,
    small: bool = False,
) -> FinetuneConfig:
    """The `FinetuneConfig` of one seed: the experiment's recipe, every regime alike.

    Args:
        config: the experiment configuration.
        files: the dataset's split files (`split_files`).
        backbone: the backbone directory; empty builds a random one.
        seed: the fine-tuning seed.
        small: a small-backbone regime: `config.small_learning_rate`, when
            set, replaces the learning rate.

    Example:
    >>> ft = finetune_config(config, files, "", seed=0)  # doctest: +SKIP
    """
    recipe = FinetuneRecipe.fields_of(config)  # the experiment is a FinetuneRecipe
    if small and config.small_learning_rate:
        recipe["learning_rate"] = config.small_learning_rate
    return FinetuneConfig(
        **recipe,
        train=files["train"],
        validation=files["validation"],
        test=files["test"],
        backbone=backbone,
        seed=seed,
    )


def finetune(
    ft_config, run_dir: str, reuse: bool, verbose: int | str, pretraining: dict | None
) -> dict:
    """Run (or reuse) one fine-tuning; returns its numbers and epoch history.

    Args:
        ft_config: the seed's `FinetuneConfig` (`finetune_config`).
        run_dir: the fine-tuning's run directory.
        reuse: reuse a finished run with the same settings.
        verbose: Keras verbosity.
        pretraining: the record of the pretraining it starts from, if any.

    Example:
    >>> run = finetune(ft, "runs/experiment/finetune/scratch/seed-0",  # doctest: +SKIP
    ...                True, 0, None)
    """
    # The pretraining's record too: a redone pretraining writes the same
    # backbone path, and must invalidate the fine-tunings made from the old one.
    spec = {"finetune": dataclasses.asdict(ft_config), "pretraining": pretraining}
    return cached_run(
        run_dir, spec, lambda resume=False: _run_finetuning(ft_config, run_dir, verbose, resume),
        reuse=reuse, what="fine-tuning",
        resumable=ft_config.strategy in RESUMABLE_STRATEGIES,
    )


def _run_finetuning(ft_config, run_dir: str, verbose: int | str, resume: bool) -> dict:
    from kerasft.finetuning.trainer import finetune as run_finetune

    metrics = run_finetune(ft_config, run_dir, verbose=verbose, resume=resume)
    with open(os.path.join(run_dir, "history.json")) as f:
        history = json.load(f)
    return {
        "seed": ft_config.seed,
        "run_dir": run_dir,
        "train_seconds": metrics["train_seconds"],
        "train_tokens": metrics.get("train_tokens"),
        "epochs_run": metrics["epochs_run"],
        "resumed_from_epoch": metrics.get("resumed_from_epoch", 0),
        "validation": _numbers(metrics["validation"]),
        "test": _numbers(metrics["test"]),
        "history": history,
    }


def _numbers(report: dict) -> dict[str, float]:
    # Top-level scores only: counts, per-class tables and matrices stay in
    # the run directory's metrics.json.
    return {
        k: float(v) for k, v in report.items()
        if isinstance(v, float) and not isinstance(v, bool)
    }


def baseline(config: ExperimentConfig, files: dict, run_dir: str, reuse: bool) -> dict:
    """Run (or reuse) the head kind's classic baseline on the experiment's splits.

    TF-IDF + logistic regression for classification heads, a CRF for token
    classification (`kerasft.baselines`); deterministic, so it runs once and
    stands for every seed.

    Args:
        config: the experiment configuration (its head).
        files: the dataset's split files (`split_files`).
        run_dir: the baseline's run directory.
        reuse: reuse a finished run with the same settings.

    Example:
    >>> record = baseline(config, files, "runs/experiment/baseline", True)  # doctest: +SKIP
    >>> record["test"]["accuracy"]  # doctest: +SKIP
    0.7987
    """
    from kerasft.baselines import baseline_name

    spec = {"baseline": baseline_name(get_head(config.head)), "head": config.head,
            "files": files, "seed": config.pretrain_seed}
    return cached_run(
        run_dir, spec, lambda: _run_baseline(config, files, run_dir),
        reuse=reuse, what="baseline",
    )


def _run_baseline(config: ExperimentConfig, files: dict, run_dir: str) -> dict:
    from kerasft.baselines import run_baseline

    head_cls = get_head(config.head)
    splits = [head_cls.read_examples(files[s]) for s in ("train", "validation", "test")]
    result = run_baseline(head_cls, *splits, seed=config.pretrain_seed)
    os.makedirs(run_dir, exist_ok=True)
    predictions = os.path.join(run_dir, PREDICTIONS_FILE)
    head = head_cls(labels=result["labels"])
    write_json(predictions, {"gold": head.gold_labels(splits[2]),
                             "predicted": result["predictions"]}, indent=None)
    write_json(os.path.join(run_dir, "metrics.json"),
               {k: v for k, v in result.items() if k != "predictions"})
    return {
        "kind": "baseline",
        "name": result["name"],
        "params": result["params"],
        "run_dir": run_dir,
        "predictions": predictions,
        "train_seconds": result["seconds"],
        "epochs_run": 0,
        "serving": result.get("serving"),
        "validation": _numbers(result["validation"]),
        "test": _numbers(result["test"]),
        "history": {},
    }


def best_validation_run(done: list[dict], metric: str) -> dict:
    """The run of highest validation `metric` (the first of ties): the one to ship.

    Example:
    >>> best_validation_run([{"validation": {"f1": 0.7}}, {"validation": {"f1": 0.8}}],
    ...                     "f1")["validation"]["f1"]
    0.8
    """
    return max(done, key=lambda r: r["validation"].get(metric, float("-inf")))
