"""The class-imbalance experiment: plain fine-tuning vs. two-stage with a class-balanced loss.

One class of the train split is subsampled to a fraction (validation and
test stay untouched); each arm (by default plain full fine-tuning, and LP-FT
whose head-only stage uses the class-balanced loss of Cui et al. 2019, as in
ValizadehAslani et al. 2022) is fine-tuned with `finetune()` once per seed,
and test macro-F1 is summarized as mean ± sample standard deviation in
`results.json`, `report.md` and `macro_f1.png`. Seed `s` draws the subsample
and seeds training, so for each seed both arms see the same data (a paired
comparison).
"""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

from kerasft.atomic_files import write_json, write_text
from kerasft.experiment.cache import cached_run
from kerasft.experiment.config import check_seeds
from kerasft.experiment.plots import figure
from kerasft.experiment.report import fmt_mean_std, markdown_table
from kerasft.experiment.statistics import mean_std
from kerasft.finetuning.config import FinetuneConfig
from kerasft.finetuning.trainer import finetune
from kerasft.head import ClassificationHead
from kerasft.registry import get_head

DEFAULT_ARMS: dict[str, dict] = {
    "plain": {"strategy": "full", "loss": "cross_entropy", "stage1_loss": ""},
    "two_stage_class_balanced": {
        "strategy": "two_stage", "stage1_loss": "class_balanced", "loss": "cross_entropy",
    },
}
_SUMMARIZED = ("macro_f1", "accuracy", "minority_f1", "minority_recall")


def subsample_class(examples: Sequence, label: str, fraction: float, seed: int) -> list:
    """Keep `round(fraction * n)` of the examples of one class, the rest untouched.

    Args:
        examples: labelled examples with a `.label` (e.g. `LabelledText`).
        label: the class to subsample.
        fraction: the share of that class to keep, in (0, 1]; at least one
            example is kept.
        seed: the random draw's seed (the same seed gives the same subset).

    Returns:
        The kept examples, in their original order.

    Example:
    >>> train = subsample_class(train, "positive", 0.1, seed=0)  # doctest: +SKIP
    """
    if not 0 < fraction <= 1:
        raise ValueError(
            f"`fraction` must be in (0, 1]. Received: fraction={fraction!r}."
        )
    positions = [i for i, e in enumerate(examples) if e.label == label]
    if not positions:
        present = sorted({e.label for e in examples})
        raise ValueError(
            f"`label` must be a class of the examples. Received: label={label!r}; "
            f"the classes are {present}."
        )
    keep = max(1, round(fraction * len(positions)))
    chosen = set(
        np.random.default_rng(seed).choice(positions, size=keep, replace=False).tolist()
    )
    return [e for i, e in enumerate(examples) if e.label != label or i in chosen]


def write_examples(examples: Sequence, path: str) -> str:
    """Write labelled examples as JSONL (`text`, `label`), the classification format.

    Args:
        examples: examples with `.text` and `.label`.
        path: the output file (parent directories are created).

    Example:
    >>> write_examples(train, "runs/imbalance/data/seed0/train.jsonl")  # doctest: +SKIP
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_text(path, "".join(
        json.dumps({"text": e.text, "label": e.label}, ensure_ascii=False) + "\n"
        for e in examples
    ))
    return path


def _arm_run(
    config: FinetuneConfig, run_dir: str, minority_label: str, fraction: float,
    verbose: int | str,
) -> dict:
    """One arm's fine-tuning on one seed's subsample (reused when finished)."""

    def run() -> dict:
        metrics = finetune(config, run_dir, verbose=verbose)
        test = metrics["test"]
        minority = test["per_class"][minority_label]
        return {
            "seed": config.seed,
            "run_dir": run_dir,
            "macro_f1": test["macro_f1"],
            "accuracy": test["accuracy"],
            "minority_f1": minority["f1"],
            "minority_recall": minority["recall"],
            "minority_precision": minority["precision"],
            "epochs_run": metrics["epochs_run"],
            "train_seconds": metrics["train_seconds"],
        }

    # The subsample too: its train file has the same path for every fraction.
    spec = {"finetune": dataclasses.asdict(config),
            "subsample": {"label": minority_label, "fraction": fraction}}
    return cached_run(run_dir, spec, run, what="fine-tuning")


def _summary(values: Sequence[float]) -> dict:
    stats = mean_std(values)
    return {"mean": stats["mean"], "std": stats["std"], "values": [float(v) for v in values]}


def run_imbalance_experiment(
    base: FinetuneConfig,
    output_dir: str,
    *,
    minority_label: str,
    fraction: float = 0.1,
    seeds: Sequence[int] = (0, 1, 2),
    arms: Mapping[str, Mapping] = DEFAULT_ARMS,
    verbose: int | str = 0,
) -> dict:
    """Compare fine-tuning arms on a train split with one class subsampled.

    Args:
        base: the shared settings (data, backbone, budget); `train` is the
            full train file, `test` the untouched test file (required).
        output_dir: where `data/`, `runs/ARM/seedS/`, `results.json`,
            `report.md` and `macro_f1.png` go.
        minority_label: the class of train to subsample.
        fraction: its share kept, in (0, 1].
        seeds: one subsample-and-training seed per repetition (>= 1).
        arms: arm name to `FinetuneConfig` overrides.
        verbose: Keras `fit` verbosity of each run.

    Returns:
        The results written to `results.json`.

    Example:
    >>> results = run_imbalance_experiment(  # doctest: +SKIP
    ...     FinetuneConfig(train=".../train.jsonl", validation=".../validation.jsonl",
    ...                    test=".../test.jsonl", monitor="macro_f1"),
    ...     "runs/imbalance", minority_label="positive", fraction=0.1)
    """
    if not base.test:
        raise ValueError(
            "`test` is required: the experiment reports macro-F1 on the untouched "
            "test split. Received: test=''."
        )
    seeds = check_seeds(seeds)
    if not arms:
        raise ValueError("`arms` must name at least one arm. Received: {}.")
    head_cls = get_head(base.head)
    if not issubclass(head_cls, ClassificationHead):
        raise ValueError(
            f"The imbalance experiment subsamples one label per text, so `head` "
            f"must be a classification head. Received: head={base.head!r} "
            f"({head_cls.__name__})."
        )
    full_train = head_cls.read_examples(base.train)
    labels = head_cls.labels_from_examples(full_train)
    os.makedirs(output_dir, exist_ok=True)

    runs: dict[str, list[dict]] = {name: [] for name in arms}
    train_counts = {}
    for seed in seeds:
        train = subsample_class(full_train, minority_label, fraction, seed)
        train_counts[str(seed)] = {
            label: sum(e.label == label for e in train) for label in labels
        }
        train_file = write_examples(
            train, os.path.join(output_dir, "data", f"seed{seed}", "train.jsonl")
        )
        for name, overrides in arms.items():
            config = dataclasses.replace(base, train=train_file, seed=seed, **overrides)
            run_dir = os.path.join(output_dir, "runs", name, f"seed{seed}")
            runs[name].append(_arm_run(config, run_dir, minority_label, fraction, verbose))

    results = {
        "minority_label": minority_label,
        "fraction": fraction,
        "seeds": seeds,
        "full_train_counts": {
            label: sum(e.label == label for e in full_train) for label in labels
        },
        "train_counts": train_counts,
        "base_config": dataclasses.asdict(base),
        "arms": {
            name: {
                "overrides": dict(arms[name]),
                "runs": runs[name],
                **{key: _summary([r[key] for r in runs[name]]) for key in _SUMMARIZED},
            }
            for name in arms
        },
    }
    write_json(os.path.join(output_dir, "results.json"), results)
    plot_macro_f1(results, os.path.join(output_dir, "macro_f1.png"))
    write_text(os.path.join(output_dir, "report.md"), format_report(results))
    return results


def format_report(results: dict) -> str:
    """A Markdown report of an imbalance experiment's `results.json`.

    Args:
        results: what `run_imbalance_experiment` returned.

    Example:
    >>> text = format_report(json.load(open("runs/imbalance/results.json")))  # doctest: +SKIP
    """
    base = results["base_config"]
    label = results["minority_label"]
    seed0 = str(results["seeds"][0])
    header = ["arm", "test macro-F1 (mean ± std)", "per seed", f"{label} F1",
              f"{label} recall", "accuracy"]
    rows = [
        [name, fmt_mean_std(arm["macro_f1"]),
         ", ".join(f"{v:.4f}" for v in arm["macro_f1"]["values"]),
         f"{arm['minority_f1']['mean']:.4f}", f"{arm['minority_recall']['mean']:.4f}",
         f"{arm['accuracy']['mean']:.4f}"]
        for name, arm in results["arms"].items()
    ]
    lines = [
        "# Class-imbalance experiment",
        "",
        f"Train: `{base['train']}` with class `{label}` subsampled to "
        f"{results['fraction']:.0%} (seed 0 counts: {results['train_counts'][seed0]}; "
        f"full: {results['full_train_counts']}). Validation `{base['validation']}` "
        f"and test `{base['test']}` untouched. Backbone: "
        f"`{base['backbone'] or base['init_model'] or 'new, from scratch'}`; "
        f"{base['epochs']} epochs max, early stopping on validation "
        f"{base['monitor']} (patience {base['patience']}, best weights restored). "
        f"Seeds {results['seeds']} (each draws the subsample and seeds training).",
        "",
        *markdown_table(header, rows),
    ]
    names = list(results["arms"])
    if len(names) == 2:
        a, b = (results["arms"][n]["macro_f1"]["values"] for n in names)
        diffs = np.asarray(b) - np.asarray(a)
        lines += [
            "",
            f"Paired difference {names[1]} − {names[0]} (same data per seed): "
            f"{diffs.mean():+.4f} (per seed {', '.join(f'{d:+.4f}' for d in diffs)}).",
        ]
    lines += [
        "",
        "std is the sample standard deviation over seeds (ddof=1). Arms:",
        "",
    ]
    lines += [f"- `{n}`: {json.dumps(arm['overrides'])}" for n, arm in results["arms"].items()]
    return "\n".join(lines) + "\n"


def plot_macro_f1(results: dict, path: str) -> str:
    """A bar chart of mean test macro-F1 per arm, std error bars and seed dots.

    Args:
        results: what `run_imbalance_experiment` returned.
        path: the PNG to write.

    Example:
    >>> plot_macro_f1(results, "runs/imbalance/macro_f1.png")  # doctest: +SKIP
    """
    names = list(results["arms"])
    arms = [results["arms"][n]["macro_f1"] for n in names]
    x = np.arange(len(names))
    with figure(path, (1.8 + 1.6 * len(names), 3.6)) as ax:
        ax.bar(x, [a["mean"] for a in arms], yerr=[a["std"] for a in arms],
               capsize=6, color="#8fb3d9", edgecolor="#2c5a8a")
        for i, a in enumerate(arms):
            ax.scatter(np.full(len(a["values"]), i), a["values"], color="#222", s=14,
                       zorder=3)
        ax.set_xticks(x, [textwrap.fill(n.replace("_", " "), 16) for n in names])
        ax.set_ylabel("test macro-F1")
        ax.set_ylim(0, 1)
        ax.set_title(
            f"{results['minority_label']} at {results['fraction']:.0%} of train, "
            f"{len(results['seeds'])} seeds"
        )
    return path
