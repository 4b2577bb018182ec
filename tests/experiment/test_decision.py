"""The decision's comparisons: one sentence per comparison, none repeated."""

import json

from kerasft.experiment.decision import compare
from kerasft.finetuning.trainer import PREDICTIONS_FILE


GOLD = [1, 0, 1, 1, 0, 1, 0, 0]


def _results(tmp_path, predicted: dict[str, list[int]], gold: list[int] = GOLD) -> dict:
    regimes = {}
    for name, labels in predicted.items():
        run_dir = tmp_path / name
        run_dir.mkdir()
        (run_dir / PREDICTIONS_FILE).write_text(json.dumps({"gold": gold, "predicted": labels}))
        accuracy = sum(g == p for g, p in zip(gold, labels)) / len(gold)
        regimes[name] = {
            "transductive": False,
            "runs": [{"seed": 0, "run_dir": str(run_dir)}],
            "test": {"accuracy": {"mean": accuracy}},
        }
    return {"metric": "accuracy", "regimes": regimes}


def test_scratch_best_states_each_comparison_once(tmp_path):
    results = _results(tmp_path, {
        "scratch": GOLD,
        "self_train": [1, 0, 1, 0, 0, 1, 1, 0],
        "mixture": [0, 0, 1, 0, 0, 1, 1, 0],
    })
    out = compare(results, "class", ["0", "1"])
    assert out["best"] == "scratch"
    assert len(out["sentences"]) == 2
    assert len(set(out["sentences"])) == 2
    assert sorted(out["vs_scratch"]) == ["mixture", "self_train"]


def test_other_best_adds_the_comparisons_with_scratch(tmp_path):
    results = _results(tmp_path, {
        "scratch": [0, 0, 1, 0, 0, 1, 1, 0],
        "self_train": GOLD,
        "mixture": [1, 0, 1, 0, 0, 1, 1, 0],
    })
    out = compare(results, "class", ["0", "1"])
    assert out["best"] == "self_train"
    # scratch and mixture against the best, then mixture against scratch.
    assert len(out["sentences"]) == 3
    assert len(set(out["sentences"])) == 3
