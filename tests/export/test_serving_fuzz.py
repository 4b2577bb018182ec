"""Every served signature, fed any text, answers defined, dense outputs.

Tiny untrained models of every head kind (classification: `sentiment`, whose
`postprocess` `style`, `topic` and any single-label head share; token
classification: `ner`; multi-label: `style_multilabel`) are
exported once (a module fixture) as one SavedModel (a signature per head, `serving_default`,
`tokenize`), and a masked-LM backbone as the `fill_mask` SavedModel, both
through the real publishing path. They are loaded in-process with
`tf.saved_model.load` and called, as TF Serving calls them, with raw string
batches: `hypothesis`-generated Unicode of all planes with control
characters and every Unicode space, raw invalid UTF-8, empty strings, an
empty batch, a 1,000-text batch and a 100,000-character text.

Checked for every signature: outputs are dense tensors with the batch
dimension, numbers are finite and in range, strings are among the model's
labels or vocabulary, padding is `""`/0/-1, NER words and entity spans index
the input text (`text[start:end] == entity_text`), and `fill_mask` without
`[MASK]` answers `num_masks == 0` with only padding.

NER offsets are CHARACTER offsets (end exclusive) into the text decoded as
UTF-8 with each invalid byte sequence one U+FFFD: for valid UTF-8 that is
Python's `bytes.decode("utf-8")`, and for any bytes it is
`bytes.decode("utf-8", "replace")`, which is what the checks index.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import kerasft
from conftest import TINY_VOCAB, TINY_WORDS
from kerasft.export.fill_mask import build_fill_mask_archive
from kerasft.export.publish import publish_archive
from kerasft.export.saved_model import export_model
from kerasft.pretraining.mlm import make_masked_lm

# Hypothesis's caches (its example database is off) go to the temp dir,
# never into the repository.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "kerasft-hypothesis"))

pytestmark = pytest.mark.large

SEQUENCE_LENGTH = 32
TOP_K = 3
CLASSES = {"sentiment": ["negative", "positive"]}
MULTI_LABELS = ["archaic", "question", "verse"]
NER_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
# Unicode's White_Space: what the NER signature splits words on.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_WORDS_OF = re.compile(f"[^{re.escape(WHITE_SPACE)}]+")
FUZZ = settings(
    derandomize=True,  # a fixed seed: the same examples on every run
    database=None,  # nothing written into the repository
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow],
)
LONG_TEXT_SECONDS = 5.0  # NER on 100k characters (linear: ~0.1 s; it was 20 s)


class Served:
    """The two loaded SavedModels and all their signatures by name."""

    def __init__(self, heads, fill_mask):
        self.heads = heads
        self.fill_mask = fill_mask
        self.signatures = {
            **{name: heads.signatures[name] for name in heads.signatures},
            "fill_mask": fill_mask.signatures["fill_mask"],
        }


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    """Tiny untrained models of every head kind and fill-mask, exported once."""
    keras.utils.set_random_seed(0)
    pre = kerasft.TextPreprocessor(TINY_VOCAB, sequence_length=SEQUENCE_LENGTH)
    backbone = kerasft.build_backbone(kerasft.BackboneConfig(
        vocabulary_size=len(TINY_VOCAB), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, dropout=0.0, max_sequence_length=SEQUENCE_LENGTH,
    ))
    heads = [
        kerasft.get_head("sentiment")(CLASSES["sentiment"], pooling="mean"),
        kerasft.get_head("ner")(NER_TAGS),
        kerasft.get_head("style_multilabel")(MULTI_LABELS, pooling="mean"),
    ]
    model = kerasft.TaskModel(backbone, heads, pre)
    root = tmp_path_factory.mktemp("fuzz_saved_models")
    # Verification (a fresh-process replay) is tested elsewhere; here the
    # exports are only loaded and called.
    path = export_model(model, root, "heads", verify=False)
    masked_lm = make_masked_lm(backbone)
    fill_path, _ = publish_archive(
        root, "fill_mask",
        lambda: (build_fill_mask_archive(masked_lm, pre, TOP_K), pre.vocabulary),
        signatures=("fill_mask", "serving_default"),
        warmup_texts=["a [MASK] film", "no marker"], verify=False,
    )
    return Served(tf.saved_model.load(str(path)), tf.saved_model.load(str(fill_path)))


def call(served: Served, signature: str, texts: list[bytes]) -> dict:
    """One signature on a batch, outputs as numpy, checked dense and batch-major."""
    outputs = served.signatures[signature](text=tf.constant(texts, tf.string))
    result = {}
    for key, value in outputs.items():
        assert isinstance(value, tf.Tensor), (signature, key, type(value))  # not ragged/sparse
        array = value.numpy()
        assert array.ndim >= 1 and array.shape[0] == len(texts), (signature, key, array.shape)
        if array.dtype.kind == "f":
            assert np.isfinite(array).all(), (signature, key)
        result[key] = array
    return result


def check_classification(out: dict, labels: list[str]) -> None:
    probabilities = out["probabilities"]
    assert probabilities.shape[1:] == (len(labels),)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["score"], probabilities.max(-1))
    assert [x.decode() for x in out["label"]] == [labels[i] for i in probabilities.argmax(-1)]


def check_multilabel(out: dict) -> None:
    active, probabilities = out["active"], out["probabilities"]
    assert active.shape[1:] == probabilities.shape[1:] == (len(MULTI_LABELS),)
    assert set(np.unique(active)) <= {0, 1}
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    for row, label in enumerate(out["label"]):
        names = [x.decode() for x in out["labels"][row]]
        assert names == [n if a else "" for n, a in zip(MULTI_LABELS, active[row])]
        on = [n for n in names if n]
        assert (label.decode() in on) if on else label == b""


def check_ner(out: dict, texts: list[bytes]) -> int:
    """Words and entities index their text; returns the number of entities."""
    entities = 0
    for row, raw in enumerate(texts):
        text = raw.decode("utf-8", "replace")  # == raw.decode() for valid UTF-8
        n = out["num_words"][row]
        words = [w.decode("utf-8", "replace") for w in out["words"][row]]
        starts, ends = out["word_start"][row], out["word_end"][row]
        # The words are the text's split on Unicode white space, in order.
        assert words[:n] == _WORDS_OF.findall(text), (raw, words[:n])
        for i in range(n):
            assert text[starts[i]:ends[i]] == words[i], (raw, i)
        tags = [t.decode() for t in out["tags"][row]]
        assert all(t in NER_TAGS for t in tags[:n]) and not any(tags[n:] + words[n:])
        scores = out["tag_scores"][row]
        assert ((scores >= 0) & (scores <= 1)).all() and not scores[n:].any()
        m = out["num_entities"][row]
        entity_text = [e.decode("utf-8", "replace") for e in out["entity_text"][row]]
        entity_start, entity_end = out["entity_start"][row], out["entity_end"][row]
        for j in range(m):
            start, end = entity_start[j], entity_end[j]
            assert 0 <= start < end <= len(text)
            assert text[start:end] == entity_text[j], (raw, j, start, end)
            # An entity runs from a word's start to a word's end.
            assert start in starts[:n] and end in ends[:n]
            assert out["entity_type"][row][j].decode() in ("PER", "LOC")
            assert 0 < out["entity_score"][row][j] <= 1
        assert not any(entity_text[m:]) and not entity_end[m:].any()
        entities += m
    return entities


def check_tokenize(out: dict) -> None:
    ids, mask, count = out["token_ids"], out["padding_mask"], out["num_tokens"]
    assert ((ids >= 0) & (ids < len(TINY_VOCAB))).all()
    assert set(np.unique(mask)) <= {0, 1}
    np.testing.assert_array_equal(count, mask.sum(-1))
    assert (count >= 2).all() and (count <= SEQUENCE_LENGTH).all()  # [CLS] ... [SEP]
    assert (ids[:, 0] == TINY_VOCAB.index("[CLS]")).all()
    assert (ids[mask == 0] == TINY_VOCAB.index("[PAD]")).all()


def check_fill_mask(out: dict, texts: list[bytes]) -> None:
    ids, tokens, scores, num_masks = (out[k] for k in ("token_ids", "tokens", "scores", "num_masks"))
    assert ids.shape[1] >= 1 and ids.shape[2:] == (TOP_K,) and tokens.shape == ids.shape
    for row, raw in enumerate(texts):
        m = num_masks[row]
        assert 0 <= m <= raw.count(b"[MASK]")  # masks past truncation are not filled
        assert (ids[row, m:] == -1).all() and not tokens[row, m:].any() and not scores[row, m:].any()
        assert ((ids[row, :m] >= 0) & (ids[row, :m] < len(TINY_VOCAB))).all()
        assert [t.decode() for t in tokens[row, :m].ravel()] == [TINY_VOCAB[i] for i in ids[row, :m].ravel()]
        top = scores[row, :m]
        assert ((top >= 0) & (top <= 1)).all() and (np.diff(top, axis=-1) <= 0).all()


def check_all(served: Served, texts: list[bytes]) -> dict:
    """Every signature on `texts`; returns the outputs by signature."""
    outs = {name: call(served, name, texts) for name in served.signatures}
    for name, labels in CLASSES.items():
        check_classification(outs[name], labels)
    for key, value in outs["serving_default"].items():  # the first head
        np.testing.assert_array_equal(value, outs["sentiment"][key])
    check_multilabel(outs["style_multilabel"])
    check_ner(outs["ner"], texts)
    check_tokenize(outs["tokenize"])
    check_fill_mask(outs["fill_mask"], texts)
    return outs


# Text: any characters (all planes, controls; hypothesis never draws lone
# surrogates, which no UTF-8 string holds), every Unicode space, words the
# vocabulary knows, and the fill-mask marker.
text = st.lists(
    st.one_of(
        st.text(max_size=6),
        st.sampled_from(list(WHITE_SPACE)),
        st.sampled_from(TINY_WORDS + ["[MASK]", "[mask]", "[MASK"]),
    ),
    max_size=12,
).map(lambda parts: " ".join(parts).encode("utf-8"))
# Bytes: text with invalid UTF-8 spliced in, or random bytes.
INVALID = [b"\xff", b"\xc3", b"\xe2\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80"]
raw_bytes = st.one_of(
    st.binary(max_size=24),
    st.lists(st.one_of(text, st.sampled_from(INVALID)), max_size=5).map(b"".join),
)


@FUZZ
@given(texts=st.lists(st.one_of(text, text, raw_bytes), min_size=1, max_size=6))
def test_every_signature_on_random_text_and_bytes(served, texts):
    check_all(served, texts)


def test_empty_texts_and_an_empty_batch(served):
    outs = check_all(served, [b"", b"", " \t\u3000".encode()])
    assert (outs["ner"]["num_words"] == 0).all() and outs["ner"]["words"].shape == (3, 0)
    assert (outs["tokenize"]["num_tokens"] == 2).all()
    assert (outs["fill_mask"]["num_masks"] == 0).all()
    for name in served.signatures:
        for key, value in call(served, name, []).items():
            assert value.shape[0] == 0, (name, key)


def test_fill_mask_without_a_marker_answers_empty_results(served):
    texts = [b"no marker here", b"", b"[mask] is not the marker", b"[MASK", "\U0001f600 \x00".encode()]
    out = call(served, "fill_mask", texts)
    assert out["token_ids"].shape == (len(texts), 1, TOP_K)
    assert (out["num_masks"] == 0).all()
    assert (out["token_ids"] == -1).all() and (out["scores"] == 0).all()
    assert not out["tokens"].any()
    # The same signature fills a marker when there is one.
    marked = call(served, "fill_mask", [b"a [MASK] film", b"none"])
    assert marked["num_masks"].tolist() == [1, 0] and (marked["token_ids"][0, 0] >= 0).all()


def test_ner_splits_on_every_unicode_space(served):
    # tf.text's WhitespaceTokenizer alone keeps a multi-byte space's leading
    # bytes in the word before it ("10\xc2" for "10\u00a0km").
    texts = [f"the{space}film{space}\U0001f600".encode() for space in WHITE_SPACE]
    out = call(served, "ner", texts)
    for row, raw in enumerate(texts):
        assert [w.decode() for w in out["words"][row]] == ["the", "film", "\U0001f600"], raw
    check_ner(out, texts)


def _random_texts(rng: random.Random, count: int, length: int) -> list[str]:
    pool = (TINY_WORDS * 4 + list(WHITE_SPACE) + ["[MASK]"] * 10 + ["\x00", "\x7f", "\u200b", "\ufeff"]
            + [chr(rng.randrange(0x20, 0x10FFFF)) for _ in range(200)])
    pool = [c for c in pool if not 0xD800 <= ord(c[0]) <= 0xDFFF]
    return ["".join(rng.choice(pool) + rng.choice(" \u00a0") for _ in range(rng.randrange(length)))
            for _ in range(count)]


def test_a_batch_of_1000_texts(served):
    texts = [t.encode("utf-8") for t in _random_texts(random.Random(0), 1000, 12)]
    texts[::97] = [b"\xff\xfe invalid \xc3"] * len(texts[::97])
    outs = check_all(served, texts)
    # Not vacuous: the untrained NER model finds entities, many multi-word.
    spans = outs["ner"]["entity_text"][outs["ner"]["entity_text"] != b""]
    assert len(spans) > 500 and sum(b" " in s or b"\xc2\xa0" in s for s in spans) > 100
    assert (outs["fill_mask"]["num_masks"] > 0).sum() > 50


def test_a_100k_character_text(served):
    rng = random.Random(1)
    long = "".join(_random_texts(rng, 1, 70_000)[0])[:100_000]
    long += "x" * (100_000 - len(long))
    assert len(long) == 100_000
    texts = [long.encode("utf-8"), b"a [MASK] film"]
    started = time.perf_counter()
    outs = check_all(served, texts)
    assert time.perf_counter() - started < LONG_TEXT_SECONDS * len(served.signatures)
    ner = outs["ner"]
    assert ner["num_words"][0] == len(_WORDS_OF.findall(long)) > 10_000
    # Words past the sequence length are served, tagged "O" with score 0.
    n = ner["num_words"][0]
    assert set(ner["tags"][0, SEQUENCE_LENGTH:n].tolist()) == {b"O"}
    started = time.perf_counter()
    call(served, "ner", texts)
    assert time.perf_counter() - started < LONG_TEXT_SECONDS
