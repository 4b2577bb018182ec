"""Weighted mixing of pretraining corpora into one endless text stream."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import tensorflow as tf
from absl import logging

from kerasft.data.corpus_sources import (
    CorpusSource,
    to_corpus_sources,
    validate_weight,
)
from kerasft.data.corpus_stream import text_dataset

_TEXT_SPEC = tf.TensorSpec(shape=(), dtype=tf.string)
_SAMPLE_BATCH_SIZE = 1024


def _as_datasets(corpora) -> tuple[list[tf.data.Dataset], list[float]]:
    if isinstance(corpora, (str, CorpusSource, tf.data.Dataset)):
        corpora = [corpora]
    if not isinstance(corpora, Sequence):
        raise TypeError(
            "`corpora` must be a CorpusSource, spec string, tf.data.Dataset "
            f"or a sequence of these. Received: corpora={corpora!r}"
        )
    if not corpora:
        raise ValueError(
            "`corpora` must name at least one corpus. Received: corpora=[]"
        )
    datasets, weights = [], []
    for index, item in enumerate(corpora):
        if isinstance(item, tf.data.Dataset):
            if not _TEXT_SPEC.is_compatible_with(item.element_spec):
                raise TypeError(
                    f"`corpora[{index}]` must be a dataset of scalar "
                    f"tf.string. Received: element_spec={item.element_spec}"
                )
            datasets.append(item)
            weights.append(1.0)
        else:
            (source,) = to_corpus_sources(item)
            datasets.append(text_dataset(source))
            weights.append(source.weight)
    return datasets, weights


def normalize_weights(
    weights: Sequence[float], num_corpora: int
) -> list[float]:
    """Checks one positive finite weight per corpus and scales them to sum 1.

    Args:
        weights: relative weights.
        num_corpora: number of corpora the weights are for.

    Example:

    >>> normalize_weights([2, 1, 1], 3)
    [0.5, 0.25, 0.25]
    """
    try:
        if isinstance(weights, (str, bytes)):
            raise TypeError
        weights = list(weights)
    except TypeError:
        raise TypeError(
            "`weights` must be a sequence of numbers, one per corpus. "
            f"Received: weights={weights!r}"
        ) from None
    if len(weights) != num_corpora:
        raise ValueError(
            f"`weights` must have one weight per corpus ({num_corpora}). "
            f"Received: {len(weights)} weights, weights={weights!r}"
        )
    checked = [
        validate_weight(w, name=f"weights[{i}]")
        for i, w in enumerate(weights)
    ]
    total = sum(checked)
    return [w / total for w in checked]


def mix_corpora(
    corpora,
    weights: Sequence[float] | None = None,
    *,
    seed: int | None = None,
    shuffle_buffer_size: int = 10_000,
) -> tf.data.Dataset:
    """Returns an endless dataset sampling documents from corpora by weight.

    Each corpus is shuffled (within a buffer) and repeated forever, then
    `tf.data.Dataset.sample_from_datasets` picks the corpus of every element
    with probability proportional to its weight. Should a corpus turn out to
    be empty the mixture ends rather than silently changing the proportions.

    Args:
        corpora: `CorpusSource`s, spec strings or `tf.data.Dataset`s of
            scalar `tf.string` (or a single one of these).
        weights: one positive weight per corpus. Defaults to each source's
            own weight (1.0 for datasets).
        seed: makes the shuffling and sampling reproducible.
        shuffle_buffer_size: documents buffered per corpus for shuffling;
            0 disables shuffling.

    Example:

    >>> mixture = mix_corpora(["reviews.txt:0.7", "wiki.jsonl:0.3"], seed=0)
    ... # doctest: +SKIP
    >>> texts = list(sample_texts(mixture, 1000))  # doctest: +SKIP
    """
    if isinstance(shuffle_buffer_size, bool) or not isinstance(
        shuffle_buffer_size, int
    ) or shuffle_buffer_size < 0:
        raise ValueError(
            "`shuffle_buffer_size` must be an integer >= 0. "
            f"Received: shuffle_buffer_size={shuffle_buffer_size!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, type(None))):
        raise TypeError(
            f"`seed` must be an int or None. Received: seed={seed!r}"
        )
    datasets, own_weights = _as_datasets(corpora)
    weights = normalize_weights(
        own_weights if weights is None else weights, len(datasets)
    )
    streams = []
    for index, dataset in enumerate(datasets):
        if shuffle_buffer_size:
            # Distinct per-corpus seeds: equal seeds would shuffle equally
            # sized corpora in lockstep.
            dataset = dataset.shuffle(
                shuffle_buffer_size,
                seed=None if seed is None else seed + index,
                reshuffle_each_iteration=True,
            )
        streams.append(dataset.repeat())
    if len(streams) == 1:
        return streams[0]
    return tf.data.Dataset.sample_from_datasets(
        streams, weights=weights, seed=seed, stop_on_empty_dataset=True
    )


def sample_texts(mixture: tf.data.Dataset, n: int) -> Iterator[str]:
    """Yields the first `n` documents of a text dataset as Python strings.

    Gives tokenizer (vocabulary) training a finite sample of an endless
    mixture. Yields fewer, with a warning, if the dataset ends first.

    Args:
        mixture: a dataset of scalar `tf.string`, e.g. from `mix_corpora`.
        n: number of documents.

    Example:

    >>> dataset = tf.data.Dataset.from_tensor_slices(["a b", "c"]).repeat()
    >>> list(sample_texts(dataset, 3))
    ['a b', 'c', 'a b']
    """
    if not isinstance(mixture, tf.data.Dataset):
        raise TypeError(
            "`mixture` must be a tf.data.Dataset. "
            f"Received: mixture of type {type(mixture).__name__}"
        )
    if not _TEXT_SPEC.is_compatible_with(mixture.element_spec):
        raise TypeError(
            "`mixture` must yield scalar tf.string. "
            f"Received: element_spec={mixture.element_spec}"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"`n` must be a positive integer. Received: n={n!r}")

    def generate():
        count = 0
        # Batching makes the per-element eager iteration cost negligible.
        batches = mixture.take(n).batch(_SAMPLE_BATCH_SIZE)
        for batch in batches.as_numpy_iterator():
            count += len(batch)
            for value in batch:
                yield value.decode("utf-8")
        if count < n:
            logging.warning(
                "sample_texts: the dataset ended after %d of %d texts.",
                count,
                n,
            )

    return generate()
