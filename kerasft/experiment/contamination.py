"""Test-text leakage: how much of the test split a regime's pretraining read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kerasft.data.corpus_stream import iter_texts
from kerasft.experiment.config import REGIMES, ExperimentConfig
from kerasft.experiment.dataset import split_files
from kerasft.experiment.plan import Pretraining, pretraining_plan


def normalize_text(text: str) -> str:
    """Collapse runs of whitespace and strip, for exact-match leakage checks.

    Args:
        text: a document.

    Example:
    >>> normalize_text("  a   gripping\\tfilm ")
    'a gripping film'
    """
    return " ".join(text.split())


def corpus_documents(specs: Iterable[str]) -> set[str]:
    """The normalised documents of corpora (every document, held-out ones too).

    Args:
        specs: corpus specs (see `kerasft.data.corpus_sources`).

    Example:
    >>> docs = corpus_documents(["train.jsonl?split=train"])  # doctest: +SKIP
    """
    documents = set()
    for spec in specs:
        documents.update(normalize_text(t) for t in iter_texts(spec))
    return documents


def leakage(test_texts: Sequence[str], documents: set[str]) -> float:
    """Fraction of test texts found verbatim (normalised) among `documents`.

    Args:
        test_texts: the test split's texts.
        documents: normalised pretraining documents (`corpus_documents`).

    Example:
    >>> leakage(["a  film", "a plot"], {"a film"})
    0.5
    """
    if not test_texts:
        return 0.0
    hits = sum(normalize_text(t) in documents for t in test_texts)
    return hits / len(test_texts)


def plan_leakage(
    regime: str, plan: Pretraining | None, test_texts: Sequence[str]
) -> tuple[float | None, str]:
    """A regime's leakage given its plan, and a note on what it covers.

    Args:
        regime: a regime name (`REGIMES`).
        plan: its pretraining (`pretraining_plan`), None if it has none.
        test_texts: the test split's texts.

    Returns:
        `(leakage, note)`; leakage is None when the corpus is unknown.

    Example:
    >>> plan_leakage("scratch", None, ["a film"])
    (0.0, '')
    """
    if regime == "off_the_shelf":
        return None, "unknown: MiniLM's own pretraining corpus"
    documents = corpus_documents(plan.corpora) if plan else set()
    note = (
        "task text only; MiniLM's own pretraining corpus unknown"
        if regime == "continued" else ""
    )
    return leakage(test_texts, documents), note


def regime_leakage(config: ExperimentConfig, regime: str) -> float | None:
    """A regime's test-text leakage, computed from its plan without training.

    Args:
        config: the experiment configuration.
        regime: a regime name (`REGIMES`).

    Returns:
        The fraction of test texts in the regime's pretraining corpus; None
        when the corpus is unknown (`off_the_shelf`).

    Example:
    >>> regime_leakage(config, "self_transductive")  # doctest: +SKIP
    1.0
    """
    if regime not in REGIMES:
        raise ValueError(
            f"`regime` must be one of {list(REGIMES)}. Received: regime={regime!r}."
        )
    files = split_files(config.data_dir)
    test_texts = list(iter_texts(files["test"]))
    plan = pretraining_plan(config, regime, files)
    return plan_leakage(regime, plan, test_texts)[0]
