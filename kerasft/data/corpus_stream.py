"""Corpora as streams of text: Python iterators and a `tf.data.Dataset`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import tensorflow as tf
from absl import logging

from kerasft.data.corpus_readers import read_file, read_tfds
from kerasft.data.corpus_sources import (
    CorpusSource,
    resolve_files,
    to_corpus_sources,
)
from kerasft.data.corpus_stats import CorpusStats

_GENERATOR_CHUNK_SIZE = 256


def _no_text_error(source: CorpusSource, stats: CorpusStats) -> ValueError:
    return ValueError(
        f"Corpus {source.name!r} yields no text. {stats.summary()}. "
        "Check the file format, the encoding (UTF-8) and '?field='."
    )


def iter_texts(
    source: CorpusSource | str, stats: CorpusStats | None = None
) -> Iterator[str]:
    """Streams the documents of one corpus as Python strings.

    Files are resolved (and missing paths reported) on the first `next()`.

    Args:
        source: a `CorpusSource` or spec string.
        stats: updated with per-file counts while the stream is consumed.

    Example:

    >>> texts = iter_texts("reviews.txt")  # doctest: +SKIP
    >>> next(texts)  # doctest: +SKIP
    'a fine film .'
    """
    (source,) = to_corpus_sources(source)
    stats = CorpusStats() if stats is None else stats
    if source.kind == "tfds":
        yield from read_tfds(source, stats)
        return
    for path, kind in resolve_files(source):
        yield from read_file(path, kind, source.text_field, stats.for_file(path))


def check_has_text(source: CorpusSource | str) -> None:
    """Raises a `ValueError` naming the corpus if it yields no text.

    Reads only up to the first document, so it is cheap on real corpora.

    Args:
        source: a `CorpusSource` or spec string.

    Example:

    >>> check_has_text("empty.txt")  # doctest: +SKIP
    ValueError: Corpus 'empty.txt' yields no text. ...
    """
    (source,) = to_corpus_sources(source)
    probe = CorpusStats()
    for _ in iter_texts(source, probe):
        return
    raise _no_text_error(source, probe)


def text_dataset(
    sources: CorpusSource | str | Iterable[CorpusSource | str],
    *,
    stats: CorpusStats | None = None,
) -> tf.data.Dataset:
    """Returns a streamed `tf.data.Dataset` of scalar `tf.string` documents.

    Several corpora are read one after the other (weights are ignored; use
    `kerasft.data.mixing.mix_corpora` to sample by weight). Each corpus is
    checked up front: a missing path or a corpus without text raises here,
    not while training.

    Args:
        sources: a `CorpusSource`, a spec string, or a sequence of these.
        stats: updated with per-file counts while the dataset is iterated
            (in chunks of a few hundred documents).

    Example:

    >>> dataset = text_dataset(["reviews.txt", "notes.jsonl?field=body"])
    ... # doctest: +SKIP
    >>> dataset.element_spec  # doctest: +SKIP
    TensorSpec(shape=(), dtype=tf.string, name=None)
    """
    sources = to_corpus_sources(sources)
    for source in sources:
        check_has_text(source)
    stats = CorpusStats() if stats is None else stats

    def generate():
        # Chunks amortise the per-call cost of crossing into Python, which
        # otherwise dominates reading short documents.
        chunk = []
        for source in sources:
            for text in iter_texts(source, stats):
                chunk.append(text.encode("utf-8"))
                if len(chunk) == _GENERATOR_CHUNK_SIZE:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    return tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec(shape=(None,), dtype=tf.string)
    ).unbatch()


def count_corpus(
    sources: CorpusSource | str | Iterable[CorpusSource | str],
) -> CorpusStats:
    """Reads corpora once, logs a summary and returns the counts.

    Args:
        sources: a `CorpusSource`, a spec string, or a sequence of these.

    Example:

    >>> count_corpus("reviews.txt").documents  # doctest: +SKIP
    8528
    """
    sources = to_corpus_sources(sources)
    stats = CorpusStats()
    for source in sources:
        before = stats.documents
        for _ in iter_texts(source, stats):
            pass
        if stats.documents == before:
            raise _no_text_error(source, stats)
    logging.info("Corpus counts: %s", stats.summary())
    return stats
