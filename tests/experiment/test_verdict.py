"""The verdict on synthetic results: winner, tie, transductive, baseline."""

import numpy as np
import pytest

from kerasft.experiment.comparison import accuracy, compare_regimes
from kerasft.experiment.verdict import best_regime, recommend, total_cost

TRANSDUCTIVE = {"self_transductive"}
COSTS = {"baseline": 3.0, "scratch": 60.0, "self_train": 900.0,
         "self_transductive": 1000.0, "mixture": 400.0, "continued": 2000.0}


def _ci(low, high, n_seeds=3):
    return {"difference": (low + high) / 2, "low": low, "high": high, "n_seeds": n_seeds}


def test_clear_winner():
    results = {"baseline": 0.78, "scratch": 0.80, "self_train": 0.86, "mixture": 0.84}
    comparisons = {"baseline": _ci(-0.10, -0.06), "scratch": _ci(-0.08, -0.04),
                   "mixture": _ci(-0.035, -0.005)}
    verdict = recommend(results, comparisons, COSTS, baseline="baseline", metric="accuracy")
    assert (verdict["regime"], verdict["reason"]) == ("self_train", "clear_winner")
    assert verdict["candidates"] == ["self_train"]
    paragraph = verdict["paragraph"]
    assert paragraph.startswith("Recommended regime: **`self_train`**.")
    assert "test accuracy" in paragraph and "0.860 (mean over 3 seeds)" in paragraph
    # The closest rival's interval, and what the winner costs against the baseline.
    assert "`self_train` beats `mixture` by 0.020 [0.005, 0.035] accuracy" in paragraph
    assert "300× the time of `baseline`" in paragraph
    assert "The baseline is beaten: `self_train` beats `baseline` by 0.080" in paragraph


def test_a_baseline_that_is_the_closest_rival_is_named_once():
    results = {"baseline": 0.84, "scratch": 0.70, "off_the_shelf": 0.86}
    comparisons = {"baseline": _ci(-0.04, -0.005), "scratch": _ci(-0.2, -0.1)}
    paragraph = recommend(results, comparisons, COSTS, baseline="baseline")["paragraph"]
    assert paragraph.count("beats `baseline`") == 1
    assert "every other one is detectably worse." in paragraph
    assert "The baseline is beaten: `off_the_shelf` beats `baseline`" in paragraph


def test_tie_is_resolved_to_the_cheaper_regime():
    results = {"scratch": 0.80, "self_train": 0.86, "mixture": 0.85, "continued": 0.855}
    comparisons = {"scratch": _ci(-0.08, -0.04), "mixture": _ci(-0.03, 0.01),
                   "continued": _ci(-0.02, 0.01)}
    verdict = recommend(results, comparisons, COSTS, metric="accuracy")
    assert (verdict["regime"], verdict["reason"]) == ("mixture", "cheapest_within_ci")
    assert verdict["best"] == "self_train"
    assert verdict["candidates"] == ["mixture", "self_train", "continued"]
    paragraph = verdict["paragraph"]
    assert "`self_train` has the best test accuracy, 0.860" in paragraph
    assert ("no detectable difference between `mixture` and `self_train` "
            "(-0.010 [-0.030, 0.010])") in paragraph
    assert "0.44× as much (400 s against 900 s)" in paragraph
    # The best stays recommended when it is itself the cheapest of the tie.
    pricier = recommend(results, comparisons, {**COSTS, "mixture": 1200.0}, metric="accuracy")
    assert (pricier["regime"], pricier["reason"]) == ("self_train", "cheapest_within_ci")
    assert "(`mixture` 1.3× as much)" in pricier["paragraph"]


def test_transductive_regime_is_never_chosen():
    # Highest mean and cheapest, and not detectably different from the best.
    results = {"scratch": 0.80, "self_train": 0.86, "self_transductive": 0.90}
    comparisons = {"scratch": _ci(-0.08, -0.04), "self_transductive": _ci(-0.01, 0.09)}
    costs = {**COSTS, "self_transductive": 1.0}
    verdict = recommend(results, comparisons, costs, transductive=TRANSDUCTIVE)
    assert verdict["regime"] == "self_train" and verdict["best"] == "self_train"
    assert "self_transductive" not in verdict["candidates"]
    assert "`self_transductive` 0.900" in verdict["paragraph"]
    assert "never recommended" in verdict["paragraph"]
    assert best_regime(results, transductive=TRANSDUCTIVE) == "self_train"
    with pytest.raises(ValueError, match="not transductive"):
        recommend({"self_transductive": 0.9}, {}, costs, transductive=TRANSDUCTIVE)


def test_baseline_not_beaten_is_said_plainly_and_recommended_when_cheapest():
    results = {"baseline": 0.85, "scratch": 0.80, "self_train": 0.86}
    comparisons = {"baseline": _ci(-0.02, 0.005), "scratch": _ci(-0.08, -0.04)}
    verdict = recommend(results, comparisons, COSTS, baseline="baseline", metric="accuracy")
    assert (verdict["regime"], verdict["reason"]) == ("baseline", "baseline_not_beaten")
    paragraph = verdict["paragraph"]
    assert "The baseline (`baseline`) is not beaten" in paragraph
    assert "0.0033× as much (3.0 s against 900 s)" in paragraph
    # The baseline being the best: not beaten either.
    best_is_baseline = recommend(
        {"baseline": 0.87, "scratch": 0.80, "self_train": 0.86},
        {"self_train": _ci(-0.02, 0.005), "scratch": _ci(-0.08, -0.04)},
        COSTS, baseline="baseline")
    assert (best_is_baseline["regime"], best_is_baseline["reason"]) == (
        "baseline", "baseline_not_beaten")
    assert "no other regime has a higher mean" in best_is_baseline["paragraph"]
    # Not beaten but dearer (a slow baseline): the cheaper neural one is used, still said.
    slow = recommend(results, comparisons, {**COSTS, "baseline": 5000.0}, baseline="baseline")
    assert (slow["regime"], slow["reason"]) == ("self_train", "baseline_not_beaten")
    assert "The baseline (`baseline`) is not beaten: no detectable difference" in slow["paragraph"]


def test_unknown_costs_never_count_as_cheap_and_missing_runs_are_skipped():
    results = {"scratch": 0.80, "self_train": 0.86, "mixture": 0.85, "continued": None}
    comparisons = {"scratch": _ci(-0.08, -0.04), "mixture": _ci(-0.03, 0.01)}
    verdict = recommend(results, comparisons, {"scratch": 60.0, "self_train": 900.0})
    assert verdict["regime"] == "self_train"
    assert verdict["candidates"] == ["self_train", "mixture"]


def test_rejects_missing_comparisons_and_unknown_baseline():
    results = {"scratch": 0.80, "self_train": 0.86}
    with pytest.raises(ValueError, match="Missing: \\['scratch'\\]"):
        recommend(results, {}, COSTS)
    with pytest.raises(ValueError, match="`baseline`"):
        recommend(results, {"scratch": _ci(-0.1, -0.05)}, COSTS, baseline="baseline")


def test_total_cost_sums_parts():
    assert total_cost({"pretraining": 300.0, "finetuning": 40.5, "serving": 2.0}) == 342.5
    assert total_cost(12) == 12.0
    assert total_cost(None) is None and total_cost({"serving": None}) is None


def test_end_to_end_from_predictions():
    # scratch is right on 60% of the examples, self_train and mixture on 85%;
    # mixture is cheaper, so the intervals decide.
    rng = np.random.default_rng(0)
    n = 400
    gold = rng.integers(0, 2, n).tolist()

    def runs(p):
        return [np.where(rng.random(n) < p, gold, 1 - np.asarray(gold)).tolist()
                for _ in range(3)]

    predictions = {"scratch": runs(0.6), "self_train": runs(0.85), "mixture": runs(0.85)}
    results = {name: float(np.mean([accuracy(gold, r) for r in rs]))
               for name, rs in predictions.items()}
    best = best_regime(results)
    comparisons = compare_regimes(accuracy, gold, predictions, best)
    verdict = recommend(results, comparisons, COSTS, metric="accuracy")
    assert verdict["regime"] == "mixture"
    assert verdict["candidates"] == ["mixture", "self_train"]
    assert "scratch" not in verdict["candidates"]
