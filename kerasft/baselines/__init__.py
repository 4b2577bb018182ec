"""Non-neural baselines on the heads' own splits and metrics.

`run_baseline` picks the baseline of a head by its `target_kind`:

- `"class"` (single-label classification): TF-IDF word 1-2-grams + char
  2-5-grams and logistic regression, `C` tuned on validation
  (`kerasft.baselines.tfidf`);
- `"token"` (NER and other tagging): a linear-chain CRF with standard word
  features, `c1`/`c2` tuned on validation (`kerasft.baselines.crf`).

Every result is a JSON-able dict marked `kind="baseline"` with its
`seconds`, reports made by the same metric functions as the head's
`evaluate`, and the per-test-example `predictions` (for paired statistics).
This package sits below the experiment: it imports only data types and
metrics, never `kerasft.experiment`, `kerasft.finetuning` or `kerasft.cli`.
"""

from __future__ import annotations

from collections.abc import Sequence

from kerasft.baselines.common import BASELINE_KIND, head_name
from kerasft.baselines.crf import crf_baseline, word_features
from kerasft.baselines.tfidf import tfidf_logreg_baseline

# target_kind -> (baseline name, function)
BASELINES = {
    "class": ("tfidf_logreg", tfidf_logreg_baseline),
    "token": ("crf", crf_baseline),
}


def _entry(head_cls: type) -> tuple:
    kind = getattr(head_cls, "target_kind", None)
    if kind not in BASELINES:
        raise ValueError(
            f"No baseline exists for head {head_name(head_cls)!r} of target_kind "
            f"{kind!r}. Baselines exist for target_kind "
            + " and ".join(f"{k!r} ({name})" for k, (name, _) in BASELINES.items())
            + "."
        )
    return BASELINES[kind]


def baseline_name(head_cls: type) -> str:
    """The name of the baseline `run_baseline` runs for a head class.

    Args:
        head_cls: a head class (its `target_kind` decides).

    Example:
    >>> from kerasft import ClassificationHead, TokenClassificationHead
    >>> baseline_name(ClassificationHead), baseline_name(TokenClassificationHead)
    ('tfidf_logreg', 'crf')
    """
    return _entry(head_cls)[0]


def run_baseline(
    head_cls: type,
    train_examples: Sequence,
    validation_examples: Sequence,
    test_examples: Sequence,
    *,
    seed: int = 0,
    **options,
) -> dict:
    """Run the baseline of a head's task: fit on train, tune on validation, score test.

    Args:
        head_cls: the head class (e.g. `kerasft.get_head("sentiment")`);
            its `target_kind` picks the baseline, `labels_from_examples` the
            label order and `primary_metric` what tuning maximises.
        train_examples: the examples `head_cls.read_examples` returned for
            train.
        validation_examples: the same, for validation.
        test_examples: the same, for test.
        seed: the run's seed (the baselines are deterministic given it).
        **options: passed to the baseline (`c_grid` for TF-IDF; `grid`,
            `max_iterations` for the CRF).

    Returns:
        A dict with `kind` (`"baseline"`), `name` (`"tfidf_logreg"` or
        `"crf"`), `head`, `primary_metric`, `seed`, `seconds` (the whole
        run), `seconds_by_step`, `labels`, `validation` and `test` (reports
        as the head's `evaluate` makes them), `params` (what was tuned, the
        features) and `predictions` (one predicted label, or tag list, per
        test example, in order).

    Raises:
        ValueError: no baseline exists for the head's `target_kind` (e.g.
            `"multi_hot"`), a split is empty, or validation/test has a label
            train lacks.

    Example:
    >>> from kerasft import ClassificationHead
    >>> from kerasft.data.jsonl import LabelledText
    >>> rows = [("a good film", "pos"), ("a bad film", "neg")] * 4
    >>> data = [LabelledText(t, y, "mem", i) for i, (t, y) in enumerate(rows)]
    >>> result = run_baseline(ClassificationHead, data, data, data, seed=0)
    >>> result["kind"], result["name"], result["predictions"][:2]
    ('baseline', 'tfidf_logreg', ['pos', 'neg'])
    """
    _, function = _entry(head_cls)
    return function(
        head_cls, train_examples, validation_examples, test_examples,
        seed=seed, **options,
    )


__all__ = [
    "BASELINES",
    "BASELINE_KIND",
    "baseline_name",
    "crf_baseline",
    "run_baseline",
    "tfidf_logreg_baseline",
    "word_features",
]
