"""The pretraining-regime experiment: leakage, budgets, report structure, CLI."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import NEGATIVE, POSITIVE, REPO, minilm_dir, write_jsonl

from kerasft.experiment import (
    REGIMES,
    ExperimentConfig,
    leakage,
    normalize_text,
    regime_leakage,
    run_experiment,
)

# Two of the four test texts are train texts (one with different spacing),
# one more is only in the mixture's extra corpus, one is nowhere else.
TEST_ROWS = [
    {"text": POSITIVE[0], "label": "positive"},
    {"text": "  " + NEGATIVE[1].replace(" ", "   ") + " ", "label": "negative"},
    {"text": "a wonderful story , not boring", "label": "positive"},
    {"text": "the acting was awful", "label": "negative"},
]
EXPECTED_LEAKAGE = {
    "scratch": 0.0,
    "self_train": 0.5,
    "self_transductive": 1.0,  # the test text itself is pretraining text
    "mixture": 0.75,  # train text + the extra corpus
    "off_the_shelf": None,  # MiniLM's own corpus is unknown
    "continued": 0.5,  # the train text it adds
}
TINY = dict(
    vocabulary_size=60, num_layers=1, num_heads=2, hidden_dim=16,
    intermediate_dim=32, sequence_length=16, pretrain_steps=2,
    pretrain_batch_size=4, pretrain_warmup_steps=1, checkpoint_every=1,
    validation_documents=1, epochs=1, batch_size=8, learning_rate=1e-3,
    monitor="accuracy",
)


@pytest.fixture
def overlap_data(tmp_path):
    """A labelled dataset with known test/train overlap, plus an extra corpus."""
    data = tmp_path / "data"
    data.mkdir()
    train = [{"text": t, "label": "positive"} for t in POSITIVE] + [
        {"text": t, "label": "negative"} for t in NEGATIVE
    ]
    write_jsonl(data / "train.jsonl", train)
    write_jsonl(data / "validation.jsonl", train[::2])
    write_jsonl(data / "test.jsonl", TEST_ROWS)
    extra = tmp_path / "extra.txt"
    extra.write_text("the story was fun\na wonderful story , not boring\nboring\n")
    return {"dir": str(data), "mixture": [f"{data / 'train.jsonl'}:1", f"{extra}:1"]}


def test_leakage_counts_whitespace_normalised_exact_matches():
    assert normalize_text("  a\t gripping\nfilm ") == "a gripping film"
    assert leakage(["a  film", "a plot", "A film"], {"a film"}) == pytest.approx(1 / 3)
    assert leakage([], {"a"}) == 0.0


def test_leakage_of_every_regime_on_known_overlap(overlap_data):
    config = ExperimentConfig(
        head="sentiment", data_dir=overlap_data["dir"],
        mixture_corpora=overlap_data["mixture"], minilm_dir=str(minilm_dir()),
    )
    for name in REGIMES:
        assert regime_leakage(config, name) == EXPECTED_LEAKAGE[name], name


def test_config_rejects_bad_regimes_and_missing_mixture():
    with pytest.raises(ValueError, match="`regimes` must be distinct names"):
        ExperimentConfig(data_dir="d", regimes=("scratch", "pretrain_everything"))
    with pytest.raises(ValueError, match="needs `mixture_corpora`"):
        ExperimentConfig(data_dir="d", regimes=("mixture",))
    with pytest.raises(ValueError, match="`data_dir` is required"):
        ExperimentConfig()


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
        assert stats["std"] >= 0.0
        assert entry["transductive"] == (name == "self_transductive")
        row = next(line for line in report.splitlines() if line.startswith(f"| {name}"))
        leak = EXPECTED_LEAKAGE[name]
        assert ("unknown" if leak is None else f"{leak:.3f}") in row
        pre = entry["pretraining"]
        if name in ("scratch", "off_the_shelf"):
            assert pre is None
        else:
            # Real tokens: at least [CLS] x [SEP] per sequence, at most full rows.
            assert 3 * pre["sequences"] <= pre["tokens"] <= 16 * pre["sequences"]
            assert pre["seconds"] > 0 and f"{pre['tokens']:,}" in row
    if "self_transductive" in regimes:
        assert "self_transductive †" in report


@pytest.mark.large
def test_tiny_experiment_report_and_reuse(overlap_data, tmp_path):
    # Two regimes keep it quick; the leakage of all six is checked above.
    regimes = ("scratch", "self_transductive")
    config = ExperimentConfig(
        head="sentiment", data_dir=overlap_data["dir"], regimes=regimes,
        seeds=(0, 1), **TINY,
    )
    out = tmp_path / "experiment"
    results = run_experiment(config, str(out), verbose=0)
    _check_report(results, out, regimes, (0, 1))
    pre = results["regimes"]["self_transductive"]["pretraining"]
    assert (pre["steps"], pre["batch_size"]) == (2, 4)
    # The pretraining run's own config records that it read the test text.
    run_config = json.loads((out / "pretrain/self_transductive/config.json").read_text())
    assert run_config["transductive_test_text"] is True

    # A rerun reuses every finished run (no retraining: same files, same numbers).
    marker = out / "finetune/self_transductive/seed-1/model.keras"
    mtime = marker.stat().st_mtime
    again = run_experiment(config, str(out), verbose=0)
    assert marker.stat().st_mtime == mtime
    assert again["regimes"]["self_transductive"]["test"] == (
        results["regimes"]["self_transductive"]["test"])


@pytest.mark.large
def test_continued_pretraining_of_minilm_on_a_tiny_budget(overlap_data, tmp_path):
    config = ExperimentConfig(
        head="sentiment", data_dir=overlap_data["dir"], regimes=("continued",),
        seeds=(0,), minilm_dir=str(minilm_dir()),
        **{**TINY, "continued_steps": 1, "continued_batch_size": 2, "batch_size": 16},
    )
    out = tmp_path / "experiment"
    results = run_experiment(config, str(out), verbose=0)
    _check_report(results, out, ("continued",), (0,))
    continued = results["regimes"]["continued"]["pretraining"]
    assert continued["init_backbone"] == str(minilm_dir())
    assert continued["vocabulary_size"] == 30522  # MiniLM's own vocabulary kept
    assert continued["steps"] == 1


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "kerasft.cli.experiment", *args], cwd=REPO,
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )


@pytest.mark.parametrize("task", ["sentiment", "ner"])
def test_flagfiles_resolve(task, shared_data):
    result = _cli(f"--flagfile=flags/experiment_{task}.flags", "--dry_run")
    assert result.returncode == 0, result.stderr[-3000:]
    resolved = json.loads(result.stdout)
    config = resolved["config"]
    assert config["head"] == task and list(config["regimes"]) == list(REGIMES)
    assert len(config["seeds"]) >= 3
    assert len(config["mixture_corpora"]) == 3  # the three shared datasets
    for path in resolved["files"].values():
        assert (REPO / path).is_file()


def test_cli_help_and_clean_error():
    result = _cli("--help")
    text = result.stdout + result.stderr
    assert "kerasft-experiment" in text and "--regimes" in text and "--mixture_corpus" in text
    result = _cli("--data_dir=/nonexistent", "--regimes=scratch", "--dry_run")
    assert result.returncode == 2 and "`data_dir` must be a dataset folder" in result.stderr
    assert "Traceback" not in result.stderr
