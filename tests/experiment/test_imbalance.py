"""The class-imbalance experiment: exact, seeded subsampling and the report."""

import json

import numpy as np
import pytest

from kerasft.data.jsonl import LabelledText
from kerasft.experiment.imbalance import run_imbalance_experiment, subsample_class
from kerasft.finetuning.config import FinetuneConfig


def _examples(n_pos=50, n_neg=30):
    return [LabelledText(f"p{i}", "positive", "mem", i) for i in range(n_pos)] + [
        LabelledText(f"n{i}", "negative", "mem", i) for i in range(n_neg)
    ]


def test_subsample_keeps_exact_counts_and_other_classes():
    examples = _examples()
    kept = subsample_class(examples, "positive", 0.1, seed=0)
    assert sum(e.label == "positive" for e in kept) == 5
    assert [e for e in kept if e.label == "negative"] == examples[50:]
    assert [e.text for e in kept] == [e.text for e in examples if e in kept]  # order kept
    assert sum(e.label == "positive" for e in subsample_class(examples, "positive", 0.001, 0)) == 1


def test_subsample_is_seed_deterministic():
    examples = _examples()
    a = subsample_class(examples, "positive", 0.2, seed=3)
    assert a == subsample_class(examples, "positive", 0.2, seed=3)
    assert a != subsample_class(examples, "positive", 0.2, seed=4)


@pytest.mark.parametrize(
    "label, fraction, fragment",
    [("neutral", 0.1, "`label` must be a class"), ("positive", 0.0, "`fraction`"),
     ("positive", 1.5, "`fraction`")],
)
def test_subsample_rejects_bad_arguments(label, fraction, fragment):
    with pytest.raises(ValueError, match=fragment):
        subsample_class(_examples(), label, fraction, seed=0)


@pytest.mark.large
def test_tiny_experiment_writes_results_report_and_chart(tiny_sentiment_files, tmp_path):
    base = FinetuneConfig(
        train=str(tiny_sentiment_files["train"]),
        validation=str(tiny_sentiment_files["validation"]),
        test=str(tiny_sentiment_files["test"]),
        vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, sequence_length=16, batch_size=8, pooling="mean",
        epochs=2, stage1_epochs=1, monitor="macro_f1",
    )
    out = tmp_path / "exp"
    results = run_imbalance_experiment(
        base, str(out), minority_label="positive", fraction=0.5, seeds=[0, 1]
    )
    assert results["train_counts"] == {"0": {"negative": 8, "positive": 4},
                                       "1": {"negative": 8, "positive": 4}}
    assert json.loads((out / "results.json").read_text()) == results
    for name, strategy in (("plain", "full"), ("two_stage_class_balanced", "two_stage")):
        arm = results["arms"][name]
        assert [r["seed"] for r in arm["runs"]] == [0, 1]
        values = arm["macro_f1"]["values"]
        assert len(values) == 2
        assert arm["macro_f1"]["std"] == pytest.approx(np.std(values, ddof=1))
        config = json.loads((out / "runs" / name / "seed1" / "config.json").read_text())
        assert config["strategy"] == strategy and config["seed"] == 1
    config = json.loads(
        (out / "runs" / "two_stage_class_balanced" / "seed0" / "config.json").read_text())
    assert config["stage1_class_weights"][1] > config["stage1_class_weights"][0]
    report = (out / "report.md").read_text()
    assert "| plain |" in report and "| two_stage_class_balanced |" in report
    assert "±" in report and "Paired difference" in report
    assert (out / "macro_f1.png").stat().st_size > 1000
    # A rerun with the same settings reuses the finished runs.
    before = (out / "runs" / "plain" / "seed0" / "metrics.json").stat().st_mtime
    run_imbalance_experiment(base, str(out), minority_label="positive", fraction=0.5,
                             seeds=[0, 1])
    assert (out / "runs" / "plain" / "seed0" / "metrics.json").stat().st_mtime == before
