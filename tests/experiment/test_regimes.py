"""The pretraining-regime experiment: budgets, report structure, reuse, CLI."""

import dataclasses
import json
import pathlib

import numpy as np
import pytest

from conftest import REPO, run_binary_cases
from test_contamination import EXPECTED_LEAKAGE, overlap_data  # noqa: F401 (a fixture)

from kerasft.experiment import REGIMES, ExperimentConfig, run_experiment

TINY = dict(
    vocabulary_size=60, num_layers=1, num_heads=2, hidden_dim=16,
    intermediate_dim=32, sequence_length=16, pretrain_steps=2,
    pretrain_batch_size=4, pretrain_warmup_steps=1, checkpoint_every=1,
    validation_documents=1, epochs=1, batch_size=8, learning_rate=1e-3,
    monitor="accuracy",
)


def _check_report(results, out, regimes, seeds):
    assert list(results["regimes"]) == list(regimes)
    saved = json.loads((out / "results.json").read_text())
    assert saved["metric"] == results["metric"] == "accuracy"
    for png in ("test_metric.png", "learning_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| regime | transductive |" in report and "leakage" in report
    assert "![test accuracy by regime](test_metric.png)" in report
    for name in regimes:
        entry = saved["regimes"][name]
        assert entry["leakage"] == EXPECTED_LEAKAGE[name], name
        assert [r["seed"] for r in entry["runs"]] == list(seeds)
        stats = entry["test"]["accuracy"]
        assert stats["n"] == len(seeds) and 0.0 <= stats["mean"] <= 1.0
        values = [r["test"]["accuracy"] for r in entry["runs"]]
        # Sample std across seeds; 0 for a single seed.
        expected = np.std(values, ddof=1) if len(values) > 1 else 0.0
        assert stats["std"] == pytest.approx(expected)
        assert entry["transductive"] == (name == "self_transductive")
        row = next(line for line in report.splitlines() if line.startswith(f"| {name}"))
        leak = EXPECTED_LEAKAGE[name]
        assert ("unknown" if leak is None else f"{leak:.3f}") in row
        pre = entry["pretraining"]
        if name in ("baseline", "scratch", "off_the_shelf"):
            assert pre is None
        else:
            # Real tokens: at least [CLS] x [SEP] per sequence, at most full rows.
            assert 3 * pre["sequences"] <= pre["tokens"] <= 16 * pre["sequences"]
            assert pre["seconds"] > 0 and f"{pre['tokens']:,}" in row
    if "self_transductive" in regimes:
        assert "self_transductive †" in report


def _check_label_curve_and_cost(results, out, regimes):
    half, full = results["label_budgets"]
    assert (half["fraction"], full["fraction"]) == (0.5, 1.0)
    assert half["examples"] < full["examples"] and half["train"].startswith(str(out / "labels"))
    report = (out / "report.md").read_text()
    assert "## Label budget" in report and "![test metric by label budget]" in report
    assert (out / "label_curve.png").read_bytes()[:4] == b"\x89PNG"
    for name in regimes:
        curve = results["regimes"][name]["label_curve"]
        assert [p["examples"] for p in curve] == [half["examples"], full["examples"]]
        assert curve[-1]["runs"] == results["regimes"][name]["runs"]
        if name != "baseline":
            # Every seed fine-tuned on the half subset, in its own directory.
            for run in curve[0]["runs"]:
                assert "/labels-0.5/" in run["run_dir"]
                config = json.loads((pathlib.Path(run["run_dir"]) / "config.json").read_text())
                assert config["train"] == half["train"]
    (point,) = results["decision"]["label_curve"]
    assert point["examples"] == half["examples"] and point["sentences"]
    # Cost: tokens and serving numbers of every regime, in the report's table.
    details = results["decision"]["cost_details"]
    assert "## Cost" in report
    for name in regimes:
        assert details[name]["latency_ms_p50"] > 0 and details[name]["size_bytes"] > 0
        if name != "baseline":
            assert details[name]["finetuning_tokens"] > 0
            served = results["serving"][name]
            assert (pathlib.Path(served["version_dir"]) / "saved_model.pb").is_file()


@pytest.mark.large
def test_tiny_experiment_report_and_reuse(overlap_data, tmp_path):
    # Three regimes keep it quick; test_contamination checks the leakage of all.
    regimes = ("baseline", "scratch", "self_transductive")
    config = ExperimentConfig(
        head="sentiment", data_dir=overlap_data["dir"], regimes=regimes,
        seeds=(0, 1), export_winner="sentiment", export_dir=str(tmp_path / "saved_models"),
        label_fractions=(0.5, 1.0), measure_serving=True, small_learning_rate=2e-3,
        **TINY,
    )
    out = tmp_path / "experiment"
    results = run_experiment(config, str(out), verbose=0)
    # Both neural regimes are small-backbone ones, at every label budget.
    for run in ("scratch/seed-0", "self_transductive/labels-0.5/seed-1"):
        run_config = json.loads((out / "finetune" / run / "config.json").read_text())
        assert run_config["learning_rate"] == 2e-3 != TINY["learning_rate"]
    _check_report(results, out, regimes, (0, 1))
    _check_label_curve_and_cost(results, out, regimes)
    # The decision: paired intervals against the best, a verdict that never
    # picks the transductive regime, and the shipped winner.
    decision = results["decision"]
    best = decision["comparisons"]["best"]
    assert best != "self_transductive"
    assert set(decision["comparisons"]["vs_best"]) == set(regimes) - {best}
    for name in set(regimes) - {best}:
        interval = decision["comparisons"]["vs_best"][name]
        assert interval["low"] <= interval["difference"] <= interval["high"]
    verdict = decision["verdict"]
    assert verdict["regime"] in decision["verdict"]["candidates"]
    assert verdict["regime"] != "self_transductive"
    report = (out / "report.md").read_text()
    assert report.index("## Verdict") < report.index("## Results")
    assert verdict["paragraph"] in report and "| baseline (tfidf_logreg) |" in report
    winner = results["winner"]
    assert winner["regime"] in ("scratch", "self_transductive") or winner["note"]
    assert winner["regime"] != "self_transductive"
    assert (pathlib.Path(winner["version_dir"]) / "saved_model.pb").is_file()
    assert winner["version_dir"] in report
    pre = results["regimes"]["self_transductive"]["pretraining"]
    assert (pre["steps"], pre["batch_size"]) == (2, 4)
    # The pretraining run's own config records that it read the test text.
    run_config = json.loads((out / "pretrain/self_transductive/config.json").read_text())
    assert run_config["transductive_test_text"] is True

    # A rerun reuses every finished run (no retraining: same files, same numbers).
    marker = out / "finetune/self_transductive/seed-1/model.keras"
    mtime = marker.stat().st_mtime
    # No second export: the rerun checks reuse only.
    again = run_experiment(dataclasses.replace(config, export_winner=""), str(out), verbose=0)
    assert marker.stat().st_mtime == mtime
    assert again["regimes"]["self_transductive"]["test"] == (
        results["regimes"]["self_transductive"]["test"])


@pytest.mark.large
def test_continued_pretraining_of_a_checkpoint_on_a_tiny_budget(
        overlap_data, tiny_hf_bert_dir, tmp_path):
    # A tiny checkpoint in MiniLM's Hugging Face layout: the regime's wiring at
    # a tiny model's cost (tests/pretraining/test_continued.py runs the real one).
    config = ExperimentConfig(
        head="sentiment", data_dir=overlap_data["dir"], regimes=("continued",),
        seeds=(0,), minilm_dir=str(tiny_hf_bert_dir), measure_serving=False,
        small_learning_rate=2e-3,
        **{**TINY, "continued_steps": 1, "continued_batch_size": 2, "batch_size": 16},
    )
    out = tmp_path / "experiment"
    results = run_experiment(config, str(out), verbose=0)
    # A MiniLM regime keeps --learning_rate.
    run_config = json.loads((out / "finetune/continued/seed-0/config.json").read_text())
    assert run_config["learning_rate"] == TINY["learning_rate"]
    _check_report(results, out, ("continued",), (0,))
    continued = results["regimes"]["continued"]["pretraining"]
    assert continued["init_backbone"] == str(tiny_hf_bert_dir)
    # The checkpoint's own vocabulary is kept (TINY asks for 60 pieces).
    vocab = (tiny_hf_bert_dir / "vocab.txt").read_text().splitlines()
    assert continued["vocabulary_size"] == len(vocab) != TINY["vocabulary_size"]
    assert continued["steps"] == 1


@pytest.mark.subprocess
def test_cli_help_clean_errors_and_flagfiles(tmp_path, shared_data):
    # One fresh process for all five command lines (`run_binary_cases`).
    help_, no_data, multi_worker, *flagfiles = run_binary_cases("kerasft-experiment", [
        ["--help"],
        ["--data_dir=/nonexistent", "--regimes=scratch", "--dry_run"],
        ["--distribution=multi_worker", "--dry_run"],
        *[[f"--flagfile=flags/experiment_{task}.flags", "--dry_run"] for task in ("sentiment", "ner")],
    ], tmp_path)
    text = help_.stdout + help_.stderr
    assert "kerasft-experiment" in text and "--regimes" in text and "--mixture_corpus" in text
    assert no_data.returncode == 2 and "`data_dir` must be a dataset folder" in no_data.stderr
    assert multi_worker.returncode == 2
    assert "Received: --distribution=multi_worker" in multi_worker.stderr
    for result in (no_data, multi_worker):
        assert "Traceback" not in result.stderr
    for task, result in zip(("sentiment", "ner"), flagfiles):
        assert result.returncode == 0, result.stderr[-3000:]
        resolved = json.loads(result.stdout)
        config = resolved["config"]
        assert config["head"] == task and list(config["regimes"]) == list(REGIMES)
        assert len(config["seeds"]) >= 3
        assert len(config["mixture_corpora"]) == 3  # the three shared datasets
        for path in resolved["files"].values():
            assert (REPO / path).is_file()
