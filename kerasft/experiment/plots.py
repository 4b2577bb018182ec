"""The experiment figures: test metric per regime, fine-tuning learning curves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from kerasft.atomic_files import atomic_path


@contextlib.contextmanager
def figure(path: str, figsize: tuple[float, float]) -> Iterator:
    """A one-axes matplotlib figure, laid out and saved to `path` as a 120-dpi PNG.

    Args:
        path: the PNG to write when the block ends.
        figsize: width and height in inches.

    Example:
    >>> with figure("runs/experiment/bars.png", (6, 4)) as ax:  # doctest: +SKIP
    ...     ax.bar([0, 1], [0.7, 0.8])
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers and in CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    try:
        yield ax
        fig.tight_layout()
        with atomic_path(path) as tmp:  # keeps the .png extension savefig reads
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)


def _label(name: str, entry: dict) -> str:
    return f"{name} (transductive)" if entry["transductive"] else name


def plot_test_metric(results: dict, path: str) -> str:
    """Bar chart of the test metric per regime, mean ± std, one dot a seed.

    Args:
        results: `run_experiment`'s results (its `metric` is plotted).
        path: the PNG to write.

    Returns:
        `path`. Transductive regimes are hatched; the y axis zooms on the seeds.

    Example:
    >>> plot_test_metric(results, "runs/experiment/test_metric.png")  # doctest: +SKIP
    """
    metric = results["metric"]
    names = list(results["regimes"])
    with figure(path, (1.6 * len(names) + 2, 4.2)) as ax:
        for i, name in enumerate(names):
            entry = results["regimes"][name]
            stats = entry["test"].get(metric, {"mean": None})
            if stats["mean"] is None:
                continue
            ax.bar(
                i, stats["mean"], yerr=stats["std"], capsize=4,
                color="#d98c4a" if entry["transductive"] else "#4a7fb5",
                hatch="//" if entry["transductive"] else None, edgecolor="black",
            )
            seeds = [r["test"].get(metric) for r in entry["runs"]]
            ax.plot([i] * len(seeds), seeds, "k.", alpha=0.6)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(
            [_label(n, results["regimes"][n]).replace(" (", "\n(") for n in names],
            rotation=20, ha="right", fontsize=8,
        )
        ax.set_ylabel(f"test {metric}")
        values = [
            r["test"].get(metric) for e in results["regimes"].values() for r in e["runs"]
        ]
        values = [v for v in values if v is not None]
        if values:
            # Zoom on the spread: differences between regimes are often a few points.
            low, high = min(values), max(values)
            pad = max(0.02, 0.25 * (high - low))
            ax.set_ylim(
                max(0.0, low - 4 * pad), min(1.0, high + pad) if high <= 1 else high + pad
            )
        ax.set_title(
            f"{results['head']}: test {metric} by pretraining regime "
            f"(mean ± std over {len(results['seeds'])} seeds; hatched = transductive)",
            fontsize=9,
        )
    return path


def _curve_key(results: dict) -> str:
    metric = results["metric"]
    keys = {
        k for e in results["regimes"].values() for r in e["runs"] for k in r["history"]
    }
    return f"val_{metric}" if f"val_{metric}" in keys else "val_loss"


def plot_learning_curves(results: dict, path: str) -> str:
    """Validation metric per fine-tuning epoch: thin lines seeds, thick the mean.

    The metric is `val_METRIC` when the runs' histories have it, else `val_loss`.

    Args:
        results: `run_experiment`'s results (each run's epoch `history`).
        path: the PNG to write.

    Example:
    >>> plot_learning_curves(results, "runs/experiment/curves.png")  # doctest: +SKIP
    """
    import matplotlib

    key = _curve_key(results)
    with figure(path, (7, 4.2)) as ax:
        colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (name, entry) in enumerate(results["regimes"].items()):
            color = colors[i % len(colors)]
            curves = [r["history"].get(key, []) for r in entry["runs"]]
            for curve in curves:
                ax.plot(range(1, len(curve) + 1), curve, color=color, alpha=0.3, lw=1)
            longest = max((len(c) for c in curves), default=0)
            # Early stopping ends seeds at different epochs: average what exists.
            mean = [
                float(np.mean([c[e] for c in curves if len(c) > e]))
                for e in range(longest)
            ]
            ax.plot(
                range(1, longest + 1), mean, color=color, lw=2.2, marker="o",
                ls="--" if entry["transductive"] else "-", label=_label(name, entry),
            )
        ax.set_xlabel("fine-tuning epoch")
        ax.set_ylabel(key.replace("val_", "validation "))
        ax.set_title(f"{results['head']}: fine-tuning learning curves", fontsize=10)
        epochs = max(
            (len(r["history"].get(key, [])) for e in results["regimes"].values()
             for r in e["runs"]), default=1,
        )
        ax.set_xticks(range(1, epochs + 1))
        ax.legend(fontsize=8)
    return path


def plot_label_curve(results: dict, path: str) -> str:
    """Test metric against labelled train examples per regime, mean ± std over seeds.

    The x axis is logarithmic (label budgets are usually 0.1, 0.3, 1.0 of
    train); dots are seeds, the baseline is drawn in black, transductive
    regimes dashed.

    Args:
        results: `run_experiment`'s results (each regime's `label_curve`).
        path: the PNG to write.

    Example:
    >>> plot_label_curve(results, "runs/experiment/label_curve.png")  # doctest: +SKIP
    """
    import matplotlib

    metric = results["metric"]
    with figure(path, (7, 4.4)) as ax:
        colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (name, entry) in enumerate(results["regimes"].items()):
            color = "black" if entry.get("baseline") else colors[i % len(colors)]
            points = [p for p in entry["label_curve"] if p["test"].get(metric, {}).get("mean")
                      is not None]
            x = [p["examples"] for p in points]
            mean = [p["test"][metric]["mean"] for p in points]
            std = [p["test"][metric]["std"] for p in points]
            ax.errorbar(
                x, mean, yerr=std, color=color, lw=2, marker="o", capsize=3,
                ls="--" if entry["transductive"] else "-", label=_label(name, entry),
            )
            for p in points:
                seeds = {r["seed"]: r["test"].get(metric) for r in p["runs"]}
                ax.scatter([p["examples"]] * len(seeds), list(seeds.values()),
                           color=color, s=9, alpha=0.4)
        budgets = results["label_budgets"]
        ax.set_xscale("log")
        ax.set_xticks([b["examples"] for b in budgets])
        ax.set_xticklabels([f"{b['examples']:,}\n({b['fraction']:g})" for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("labelled train examples (share of train)")
        ax.set_ylabel(f"test {metric}")
        ax.set_title(f"{results['head']}: test {metric} by label budget", fontsize=10)
        ax.legend(fontsize=8)
    return path
