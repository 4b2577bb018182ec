"""`report.md`: the experiment's Markdown table, budgets, definitions and figures."""

from __future__ import annotations

import os
from collections.abc import Sequence

from kerasft.data.corpus_sources import parse_corpus_spec


def fmt_mean_std(stats: dict | None, digits: int = 4) -> str:
    """`mean ± std` of a `mean_std` summary, `n/a` when it has no numbers.

    Args:
        stats: `{"mean", "std", ...}` (see `kerasft.experiment.statistics`).
        digits: decimals of both numbers.

    Example:
    >>> fmt_mean_std({"mean": 0.81234, "std": 0.01})
    '0.8123 ± 0.0100'
    """
    if not stats or stats.get("mean") is None:
        return "n/a"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table: header, separator, one line a row.

    Args:
        header: the column titles.
        rows: the cells of each row, already formatted.

    Example:
    >>> markdown_table(["arm", "F1"], [["plain", "0.8"]])
    ['| arm | F1 |', '| --- | --- |', '| plain | 0.8 |']
    """
    return [
        "| " + " | ".join(cells) + " |"
        for cells in (header, ["---"] * len(header), *rows)
    ]


def _fmt_int(value) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def _corpus_label(entry: dict) -> str:
    pre = entry["pretraining"]
    if pre is None:
        return "none"
    names = []
    for spec in pre["corpora"]:
        source = parse_corpus_spec(spec)
        parent = os.path.basename(os.path.dirname(os.path.abspath(source.path)))
        names.append(f"{parent}/{os.path.basename(source.path)}")
    text = " + ".join(names)
    return f"MiniLM + {text}" if pre["init_backbone"] else text


def _pretraining_cells(name: str, pre: dict | None) -> list[str]:
    """Budget, tokens, seconds, held-out MLM loss and accuracy of a regime."""
    if pre is None:
        budget = "public checkpoint" if name == "off_the_shelf" else "n/a"
        return [budget, "n/a", "n/a", "n/a", "n/a"]
    budget = f"{pre['steps']:,} × {pre['batch_size']}"
    before, after = pre["mlm_loss_before"], pre["mlm_loss_after"]
    mlm = (
        f"{before:.2f} → {after:.2f}"
        if before is not None and after is not None else "n/a"
    )
    if mlm != "n/a" and pre.get("unigram_loss") is not None:
        mlm += f" ({pre['unigram_loss']:.2f})"
    if pre.get("objective", "mlm") != "mlm":
        budget += f" {pre['objective']}"
    acc = pre.get("mlm_accuracy_after")
    return [
        budget, _fmt_int(pre["tokens"]), f"{pre['seconds']:.0f}", mlm,
        "n/a" if acc is None else f"{acc:.3f}",
    ]


def _row(name: str, entry: dict, metric: str) -> list[str]:
    leak = "unknown" if entry["leakage"] is None else f"{entry['leakage']:.3f}"
    if entry["leakage_note"] and entry["leakage"] is not None:
        leak += "*"
    mark = " †" if entry["transductive"] else ""
    if entry.get("baseline"):
        mark = f" ({entry['baseline']})"
    budget, tokens, seconds, mlm, mlm_acc = _pretraining_cells(
        name, entry["pretraining"]
    )
    return [
        f"{name}{mark}", "yes" if entry["transductive"] else "no",
        _corpus_label(entry), budget, tokens, seconds, mlm, mlm_acc, leak,
        fmt_mean_std(entry["test"].get(metric)),
        fmt_mean_std(entry["validation"].get(metric)),
        fmt_mean_std(entry["finetune_seconds"], 0),
    ]


def _decision_lines(results: dict) -> list[str]:
    """The verdict paragraph, the paired comparisons and the exported winner."""
    decision = results.get("decision") or {}
    comparisons = decision.get("comparisons", {})
    if "verdict" not in decision:
        return [f"**No verdict**: {comparisons.get('skipped', 'no comparisons were made')}.", ""]
    lines = ["## Verdict", "", decision["verdict"]["paragraph"], ""]
    winner = results.get("winner")
    if winner:
        lines += [
            f"Shipped: `{winner['regime']}` (seed {winner['seed']}, best validation "
            f"{results['metric']}) exported to `{winner['version_dir']}` for TF "
            "Serving. " + winner["note"], "",
        ]
    lines += [
        "Paired comparisons (95% confidence interval of the difference in test "
        f"{results['metric']}, bootstrap over the test examples, pooled over seeds):",
        "",
        *[f"- {sentence}" for sentence in comparisons["sentences"]],
        "",
    ]
    return lines


def _label_curve_lines(results: dict) -> list[str]:
    """The label-budget table and, per smaller budget, the paired comparisons."""
    budgets = results.get("label_budgets") or []
    if len(budgets) < 2:
        return []
    metric = results["metric"]
    header = ["regime"] + [f"{b['examples']:,} labels ({b['fraction']:g})" for b in budgets]
    rows = [
        [name] + [fmt_mean_std(p["test"].get(metric)) for p in entry["label_curve"]]
        for name, entry in results["regimes"].items()
    ]
    lines = [
        "## Label budget",
        "",
        f"Test {metric} (mean ± std over seeds) when fine-tuning on nested, "
        "stratified subsets of train, the same examples for every regime and "
        "seed (indices in `labels/subsets.json`); pretraining still reads the "
        "whole train text, so this is the question *pretrain on the unlabeled "
        "text, then fine-tune on few labels*. `scratch` builds its vocabulary "
        "from the labelled subset only.",
        "",
        *markdown_table(header, rows),
        "",
        "![test metric by label budget](label_curve.png)",
        "",
    ]
    for point in (results.get("decision") or {}).get("label_curve", []):
        if "skipped" in point:
            lines.append(f"- {point['examples']:,} labels: no comparisons "
                         f"({point['skipped']}).")
            continue
        lines.append(f"- **{point['examples']:,} labels ({point['fraction']:g})**, "
                     f"best `{point['best']}`: " + "; ".join(point["sentences"]) + ".")
    return lines + [""]


def _cost_cell(value, scale: float = 1.0, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value / scale:,.{digits}f}"


def _cost_lines(results: dict) -> list[str]:
    """The cost table: training seconds and tokens, serving latency and size."""
    details = (results.get("decision") or {}).get("cost_details")
    if not details:
        return []
    rows = [
        [name, _cost_cell(d["pretraining_seconds"]), _cost_cell(d["pretraining_tokens"]),
         _cost_cell(d["finetuning_seconds"]), _cost_cell(d["finetuning_tokens"]),
         _cost_cell(d["latency_ms_p50"], digits=2), _cost_cell(d["size_bytes"], 1e6, 1)]
        for name, d in details.items()
    ]
    return [
        "## Cost",
        "",
        *markdown_table(
            ["regime", "pretrain s", "pretrain tokens", "fine-tune s (a seed)",
             "fine-tune tokens (a seed)", "serving p50 ms (batch 1)", "size MB"],
            rows,
        ),
        "",
        "- Seconds are wall time on this machine; tokens are real (non-padding) "
        "tokens read. Serving: the best-validation model exported as for TF "
        "Serving (`serving/REGIME/`), one test text a call, in-process (no "
        "network), tokenization included; the baseline's is its scikit-learn "
        "`predict` on one text (the CRF's on one tokenized sentence), size its "
        "pickle. MiniLM's own pretraining cost is not counted.",
        "",
    ]


def _small_rate(config: dict) -> str:
    rate = config.get("small_learning_rate")
    return f" (small-backbone regimes: {rate})" if rate else ""


def render_report(results: dict) -> str:
    """`report.md`: the table, the budgets, the leakage definition and figures.

    Args:
        results: `run_experiment`'s results.

    Example:
    >>> text = render_report(results)  # doctest: +SKIP
    """
    metric = results["metric"]
    config = results["config"]
    header = [
        "regime", "transductive", "pretraining text", "steps × batch", "tokens",
        "pretrain s", "held-out MLM loss (unigram)", "held-out MLM acc", "leakage",
        f"test {metric}", f"validation {metric}", "fine-tune s",
    ]
    lines = [
        f"# Pretraining regimes: {results['head']} on `{results['data_dir']}`",
        "",
        *_decision_lines(results),
        "## Results",
        "",
        f"Test **{metric}**, mean ± sample std over {len(results['seeds'])} "
        f"fine-tuning seeds {results['seeds']}; every regime uses the same "
        f"fine-tuning recipe (≤ {config['epochs']} epochs, batch "
        f"{config['batch_size']}, learning rate {config['learning_rate']}"
        f"{_small_rate(config)}, "
        f"sequence length {config['sequence_length']}, early stopping on "
        f"validation {config['monitor']}, patience {config['patience']}). "
        "Each pretraining ran once and is shared by all seeds. "
        "† = transductive: the pretraining read the unlabeled validation and "
        "test text, so its test score is not comparable with the others.",
        "",
        *markdown_table(header, [
            _row(name, entry, metric) for name, entry in results["regimes"].items()
        ]),
        "",
        "- **tokens**: real (non-padding) tokens in the pretraining batches, "
        "special tokens included, counted by the training loop. "
        "**pretrain s**: `fit` wall time of the pretraining on this machine. "
        "**held-out MLM loss**: before → after on held-out documents (15% "
        "masked; ELECTRA: its generator's), and in brackets the loss of the "
        "held-out text's own word-piece frequencies (a model that ignores "
        "context); **acc**: masked-token accuracy after.",
        "- **leakage**: fraction of the test texts that occur verbatim "
        "(whitespace-normalised, exact match) as a document of the regime's "
        "pretraining corpus, held-out documents included. "
        "`unknown`: MiniLM's own pretraining corpus is not available here; "
        "`*`: the text this run added only (MiniLM's own corpus unknown).",
        "- Budgets: the small-backbone pretrainings share steps, batch and "
        "sequence length "
        f"({config['pretrain_steps']} × {config['pretrain_batch_size']} × "
        f"{config['sequence_length']}"
        + (f", at most {config['pretrain_max_seconds']:.0f} s" if config["pretrain_max_seconds"] else "")
        + ")"
        + (
            f"; MiniLM's continued pretraining has its own: "
            f"{config['continued_steps']} × {config['continued_batch_size']} "
            "(a 6-layer, 384-wide model costs many times more a step)"
            if "continued" in results["regimes"] else ""
        )
        + ". Pretraining runs once a regime; fine-tuning once a seed.",
        "",
        f"![test {metric} by regime](test_metric.png)",
        "",
        *_label_curve_lines(results),
        *_cost_lines(results),
        "![fine-tuning learning curves](learning_curves.png)",
        "",
        f"Compute recorded: {results['compute_seconds']:.0f} s (pretraining "
        f"and fine-tuning wall time; this invocation took {results['seconds']:.0f} s, "
        "finished runs being reused). Per-seed numbers, budgets and run "
        "directories: `results.json`.",
        "",
    ]
    return "\n".join(lines)
