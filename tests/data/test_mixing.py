"""Tests for kerasft.data.mixing."""

import collections
import math

import pytest
import tensorflow as tf

from kerasft.data import mixing
from kerasft.data.corpus_sources import CorpusSource


def write_corpus(tmp_path, name, num_docs):
    path = tmp_path / f"{name}.txt"
    path.write_text("".join(f"{name} {i}\n" for i in range(num_docs)))
    return str(path)


def test_mix_corpora_matches_weights(tmp_path):
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    # Unequal sizes: proportions must follow weights, not corpus sizes.
    specs = [
        f"{write_corpus(tmp_path, name, size)}:{weight}"
        for (name, weight), size in zip(weights.items(), (50, 200, 30))
    ]
    n = 20_000
    mixture = mixing.mix_corpora(specs, seed=0, shuffle_buffer_size=64)
    counts = collections.Counter(
        text.split()[0] for text in mixing.sample_texts(mixture, n)
    )
    assert sum(counts.values()) == n
    for name, p in weights.items():
        # Each count is Binomial(n, p); 4 standard deviations (at most
        # 4 * sqrt(20000 * 0.25) / 20000 = 1.4 points) is exceeded by chance
        # with probability ~6e-5, while a wrong weight shifts it by far more.
        tolerance = 4 * math.sqrt(p * (1 - p) / n)
        assert abs(counts[name] / n - p) < tolerance, (name, counts)


def test_mix_corpora_explicit_weights_override_and_normalize():
    datasets = [
        tf.data.Dataset.from_tensor_slices(["x"]),
        tf.data.Dataset.from_tensor_slices(["y"]),
    ]
    n = 4_000
    mixture = mixing.mix_corpora(datasets, weights=[3, 1], seed=1)
    counts = collections.Counter(mixing.sample_texts(mixture, n))
    # Binomial(4000, 0.75): 4 standard deviations is 0.027.
    assert abs(counts["x"] / n - 0.75) < 4 * math.sqrt(0.75 * 0.25 / n)


def test_mix_corpora_is_reproducible_with_seed(tmp_path):
    specs = [write_corpus(tmp_path, "a", 30), write_corpus(tmp_path, "b", 30)]
    first = list(mixing.sample_texts(mixing.mix_corpora(specs, seed=3), 100))
    second = list(mixing.sample_texts(mixing.mix_corpora(specs, seed=3), 100))
    assert first == second
    assert {t.split()[0] for t in first} == {"a", "b"}


def test_mix_corpora_single_source_repeats(tmp_path):
    source = CorpusSource("txt", write_corpus(tmp_path, "a", 3))
    texts = list(mixing.sample_texts(mixing.mix_corpora(source, seed=0), 9))
    assert collections.Counter(texts) == {"a 0": 3, "a 1": 3, "a 2": 3}


@pytest.mark.parametrize(
    "weights, error, message",
    [
        ([1.0], ValueError, "one weight per corpus"),
        ([1.0, 0.0], ValueError, r"`weights\[1\]` must be a positive finite"),
        ([1.0, -2.0], ValueError, "positive finite"),
        ([1.0, float("nan")], ValueError, "positive finite"),
        ([1.0, float("inf")], ValueError, "positive finite"),
        ([1.0, "2"], TypeError, r"`weights\[1\]` must be a number"),
        ("12", TypeError, "sequence of numbers"),
    ],
)
def test_mix_corpora_validates_weights(weights, error, message):
    datasets = [tf.data.Dataset.from_tensor_slices(["x"])] * 2
    with pytest.raises(error, match=message):
        mixing.mix_corpora(datasets, weights=weights)


def test_mix_corpora_rejects_bad_corpora(tmp_path):
    with pytest.raises(ValueError, match="at least one corpus"):
        mixing.mix_corpora([])
    with pytest.raises(TypeError, match="scalar tf.string"):
        mixing.mix_corpora([tf.data.Dataset.range(3)])
    with pytest.raises(ValueError, match="not found"):
        mixing.mix_corpora([str(tmp_path / "missing.txt")])


def test_sample_texts_validates_and_stops_at_end():
    dataset = tf.data.Dataset.from_tensor_slices(["a", "b"])
    assert list(mixing.sample_texts(dataset, 5)) == ["a", "b"]
    with pytest.raises(ValueError, match="positive integer"):
        mixing.sample_texts(dataset, 0)
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        mixing.sample_texts(["a"], 1)
