"""The verdict: `report.md`'s opening paragraph, the regime to use and why.

Rules: the best regime is the one of highest mean test metric among those
that are not transductive (pretrained on the test text: their numbers are
optimistic for new text, so they are shown, never recommended). Every
regime whose paired confidence interval against the best includes 0 is a
candidate (not detectably worse); the cheapest candidate is recommended.
When the baseline is a candidate (the best, or not detectably worse than
it), the paragraph says plainly that the baseline is not beaten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from kerasft.experiment.comparison import describe


def _usable(value) -> bool:
    return value is not None and not math.isnan(value)


def best_regime(results: Mapping[str, float | None], *, transductive: Iterable[str] = ()) -> str:
    """The regime of highest mean metric among those that are not transductive.

    Ties go to the first in `results`' order. Compare every regime against
    this one (`comparison.compare_regimes`) for `recommend`.

    Args:
        results: regime -> mean test metric over seeds (higher is better);
            None or NaN (no runs) is skipped.
        transductive: regimes pretrained on the test text.

    Example:
    >>> best_regime({"scratch": 0.8, "self_transductive": 0.9, "self_train": 0.85},
    ...             transductive={"self_transductive"})
    'self_train'
    """
    transductive = set(transductive)
    eligible = [r for r, v in results.items() if r not in transductive and _usable(v)]
    if not eligible:
        raise ValueError(
            "`results` must hold a regime with a metric that is not transductive. "
            f"Received: results={dict(results)!r}, transductive={sorted(transductive)}."
        )
    return max(eligible, key=lambda r: results[r])  # max keeps the first of ties


def total_cost(cost) -> float | None:
    """Seconds of a regime's cost: a number, or the sum of a mapping's parts.

    Args:
        cost: seconds, or e.g. `{"pretraining": s, "finetuning": s,
            "serving": s}` (None parts are skipped); None: unknown.

    Example:
    >>> total_cost({"pretraining": 300.0, "finetuning": 40.0, "serving": None})
    340.0
    """
    if cost is None:
        return None
    if isinstance(cost, Mapping):
        parts = [float(v) for v in cost.values() if v is not None]
        return sum(parts) if parts else None
    return float(cost)


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown time"
    return f"{value:,.0f} s" if value >= 10 else f"{value:.1f} s"


def _ratio(numerator: float | None, denominator: float | None) -> str | None:
    if numerator is None or not denominator:
        return None
    ratio = numerator / denominator
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2g}×"


def _names(names: list[str]) -> str:
    names = [f"`{n}`" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def recommend(
    results: Mapping[str, float | None],
    comparisons: Mapping[str, Mapping[str, float]],
    costs: Mapping[str, float | Mapping[str, float | None] | None],
    *,
    transductive: Iterable[str] = (),
    baseline: str | None = None,
    metric: str = "metric",
    digits: int = 3,
) -> dict:
    """The recommended regime and the paragraph that explains it.

    Args:
        results: regime -> mean test metric over seeds (higher is better);
            None or NaN (no runs) is skipped.
        comparisons: regime -> `comparison.paired_bootstrap` result of that
            regime minus the best (`best_regime`), for every other regime
            that is not transductive (the baseline included).
        costs: regime -> seconds (pretraining + fine-tuning, plus serving if
            measured), or a mapping of those parts (see `total_cost`); a
            missing or None cost is unknown and never counts as cheap.
        transductive: regimes pretrained on the test text: shown, never
            recommended.
        baseline: the baseline regime's name (e.g. `"baseline"`), if run.
        metric: the metric's name for the paragraph (e.g. `"accuracy"`).
        digits: decimals of the metric numbers.

    Returns:
        `{"regime", "paragraph", "reason", "best", "candidates"}`; `reason`
        is `"clear_winner"`, `"cheapest_within_ci"` or
        `"baseline_not_beaten"`; `candidates` are the regimes not
        detectably worse than the best, cheapest first.

    Example:
    >>> verdict = recommend(
    ...     {"scratch": 0.80, "self_train": 0.86, "mixture": 0.85},
    ...     {"scratch": {"difference": -0.06, "low": -0.08, "high": -0.04},
    ...      "mixture": {"difference": -0.01, "low": -0.03, "high": 0.01}},
    ...     {"scratch": 60, "self_train": 900, "mixture": 400}, metric="accuracy")
    >>> verdict["regime"], verdict["reason"]
    ('mixture', 'cheapest_within_ci')
    """
    transductive = set(transductive)
    best = best_regime(results, transductive=transductive)
    eligible = [r for r, v in results.items() if r not in transductive and _usable(v)]
    missing = [r for r in eligible if r != best and r not in comparisons]
    if missing:
        raise ValueError(
            f"`comparisons` must hold every non-transductive regime against the "
            f"best, {best!r}. Missing: {missing}."
        )
    if baseline is not None and baseline not in eligible:
        raise ValueError(
            f"`baseline` must be a regime of `results` with a metric. Received: "
            f"baseline={baseline!r}; the regimes are {eligible}."
        )
    seconds = {r: total_cost(costs.get(r)) for r in results}
    position = {r: i for i, r in enumerate(results)}

    def cheapness(r: str) -> tuple:
        # Unknown costs last; equal costs: the higher metric, then report order.
        cost = seconds[r]
        return (cost is None, cost or 0.0, -results[r], position[r])

    # `high >= 0`: the interval includes 0 (or, oddly, lies above it).
    candidates = sorted(
        [best] + [r for r in eligible if r != best and comparisons[r]["high"] >= 0],
        key=cheapness,
    )
    chosen = candidates[0]
    baseline_tied = baseline is not None and baseline in candidates
    reason = (
        "baseline_not_beaten" if baseline_tied
        else "clear_winner" if len(candidates) == 1
        else "cheapest_within_ci"
    )

    def num(r: str) -> str:
        return f"{results[r]:.{digits}f}"

    def versus_best(r: str) -> str:
        return describe(f"`{r}`", f"`{best}`", comparisons[r], metric, digits=digits)

    seeds = next((c.get("n_seeds") for c in comparisons.values() if c.get("n_seeds")), None)
    over = f" (mean over {seeds} seeds)" if seeds else ""
    parts = [f"Recommended regime: **`{chosen}`**."]
    if chosen == best:
        text = (f"It has the best test {metric} of the regimes that are not "
                f"transductive, {num(best)}{over}")
        tied = [r for r in candidates if r != best]
        others = sorted((r for r in eligible if r != best), key=lambda r: -results[r])
        if tied:
            ratio = _ratio(seconds[tied[0]], seconds[best])
            verb = ("is", "costs") if len(tied) == 1 else ("are", "cost")
            text += (f"; {_names(tied)} {verb[0]} within its confidence interval "
                     f"({versus_best(tied[0])}) but {verb[1]} more"
                     + (f" (`{tied[0]}` {ratio} as much)" if ratio else ""))
        elif others:
            text += ", and every other one is detectably worse"
            if others[0] != baseline:  # else the baseline sentence below says it
                text += f"; the closest: {versus_best(others[0])}"
        else:
            text += ", the only one run"
        parts.append(text + ".")
        reference = baseline if baseline not in (None, chosen) else next(
            (r for r in sorted(eligible, key=cheapness) if r != chosen), None)
        ratio = _ratio(seconds[chosen], seconds.get(reference))
        if seconds[chosen] is None:
            parts.append("Its cost is unknown.")
        else:
            parts.append(f"It costs {_seconds(seconds[chosen])}" + (
                f", {ratio} the time of `{reference}` ({_seconds(seconds[reference])})."
                if ratio else "."))
    else:
        ratio = _ratio(seconds[chosen], seconds[best])
        cheaper = (f"costs {ratio} as much ({_seconds(seconds[chosen])} against "
                   f"{_seconds(seconds[best])})" if ratio else
                   f"costs {_seconds(seconds[chosen])} (`{best}`'s is unknown)")
        parts.append(
            f"`{best}` has the best test {metric}, {num(best)}{over}, but "
            f"`{chosen}` ({num(chosen)}) is within its confidence interval — "
            f"{versus_best(chosen)} — and {cheaper}, so the cheaper regime is "
            "recommended."
        )
    if baseline_tied:
        detail = (
            "no other regime has a higher mean" if baseline == best
            else f"the best regime, `{best}`, is not detectably better"
            if baseline == chosen
            else versus_best(baseline)
        )
        parts.append(f"The baseline (`{baseline}`) is not beaten: {detail}.")
    elif baseline is not None:
        parts.append(f"The baseline is beaten: {versus_best(baseline)}.")
    shown = [r for r in results if r in transductive and _usable(results[r])]
    if shown:
        scores = ", ".join(f"`{r}` {num(r)}" for r in shown)
        parts.append(
            f"Transductive regimes ({scores}) were pretrained on the test text "
            "too, so their numbers are optimistic for new text: shown, never "
            "recommended."
        )
    return {
        "regime": chosen,
        "paragraph": " ".join(parts),
        "reason": reason,
        "best": best,
        "candidates": candidates,
    }
