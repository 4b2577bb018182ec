"""Pretraining on the text of labelled datasets, and what a run records."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from absl import logging

from kerasft.data.corpus_sources import (
    CorpusSource,
    file_kind,
    to_corpus_sources,
)

_LABELLED_EXTENSIONS = ("jsonl", "conll")
_TEST_SPLIT = "test"


def _split_names(split: str) -> set[str]:
    # TFDS split strings look like "train[:10%]+test".
    return {part.split("[")[0].strip() for part in split.split("+")}


def labelled_text_sources(
    dataset_dir: str,
    splits: Sequence[str] = ("train",),
    *,
    allow_test: bool = False,
) -> list[CorpusSource]:
    """Returns corpora for the text (not labels) of a labelled dataset.

    The dataset folder holds `{split}.jsonl` (field `text`) or
    `{split}.conll` files, like `shared/data/sentiment_rt_polarity`. Each
    source records its split, so `corpus_provenance` can report which splits
    a run pretrained on and whether it is transductive.

    Args:
        dataset_dir: the dataset folder.
        splits: split names to read, e.g. `("train", "validation")`.
        allow_test: pretraining on the `test` split is refused unless this is
            `True`: then the run is transductive and a warning is logged.

    Example:

    >>> sources = labelled_text_sources("shared/data/ner_conll2003")
    ... # doctest: +SKIP
    >>> [s.to_spec() for s in sources]  # doctest: +SKIP
    ['shared/data/ner_conll2003/train.conll?split=train']
    """
    if isinstance(splits, str):
        splits = (splits,)
    splits = list(splits)
    if not splits or not all(isinstance(s, str) and s for s in splits):
        raise ValueError(
            "`splits` must be a non-empty sequence of split names. "
            f"Received: splits={splits!r}"
        )
    if len(set(splits)) != len(splits):
        raise ValueError(
            f"`splits` has duplicates. Received: splits={splits!r}"
        )
    if not os.path.isdir(dataset_dir):
        raise ValueError(
            "`dataset_dir` must be a dataset folder. "
            f"Received: dataset_dir={dataset_dir!r}, which is not a directory."
        )
    if _TEST_SPLIT in splits:
        if not allow_test:
            raise ValueError(
                f"`splits` includes 'test' for {dataset_dir!r}. Pretraining "
                "on the test text makes the run transductive: the backbone "
                "has seen the test inputs (not their labels), so the test "
                "score no longer measures performance on unseen text and is "
                "not comparable with inductive runs. Pass `allow_test=True` "
                "to opt in; the run config then records the run as "
                f"transductive. Received: splits={splits!r}"
            )
        logging.warning(
            "Pretraining on the test split of %s: this run is transductive; "
            "report its test score as such.",
            dataset_dir,
        )
    sources = []
    for split in splits:
        candidates = [
            os.path.join(dataset_dir, f"{split}.{ext}")
            for ext in _LABELLED_EXTENSIONS
        ]
        found = [c for c in candidates if os.path.isfile(c)]
        if len(found) != 1:
            problem = "none" if not found else "more than one"
            raise ValueError(
                f"Expected exactly one of {candidates} for split {split!r}, "
                f"found {problem}. Files in {dataset_dir!r}: "
                f"{sorted(os.listdir(dataset_dir))}"
            )
        path = found[0]
        sources.append(
            CorpusSource(kind=file_kind(path), path=path, split=split)
        )
    return sources


def corpus_provenance(
    sources: CorpusSource | str | Iterable[CorpusSource | str],
) -> dict:
    """Returns what a run config should record about its corpora.

    Args:
        sources: the corpora a run pretrained on.

    Returns:
        A dict with `corpora` (spec strings, parseable back), `splits` (split
        names the text came from) and `transductive` (whether any corpus is a
        `test` split).

    Example:

    >>> corpus_provenance(["tfds:imdb_reviews?split=test"])["transductive"]
    True
    """
    sources = to_corpus_sources(sources)
    splits = set()
    for source in sources:
        if source.split is not None:
            splits |= _split_names(source.split)
    return {
        "corpora": [source.to_spec() for source in sources],
        "splits": sorted(splits),
        "transductive": _TEST_SPLIT in splits,
    }
