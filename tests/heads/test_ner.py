"""The ner head on CoNLL files: reading, train/serve token-id equality, scoring."""

import numpy as np
import pytest
import tensorflow as tf

import heads.ner  # noqa: F401  (registers "ner" even without the entry point)
import kerasft
from conftest import NER_DIR, minilm_dir
from kerasft.metrics.entity_metrics import conlleval


@pytest.fixture(scope="module")
def validation():
    return kerasft.get_head("ner").read_examples(NER_DIR / "validation.conll")


@pytest.fixture(scope="module")
def bert_preprocessor():
    # A real 30k uncased BERT vocabulary (MiniLM's), 128 pieces per sentence.
    return kerasft.TextPreprocessor(str(minilm_dir() / "vocab.txt"), sequence_length=128)


def test_registered_and_reads_conll_without_docstart(validation):
    head_cls = kerasft.get_head("ner")
    assert head_cls is heads.ner.NerHead
    assert len(validation) == 3250
    assert sum(len(s.tokens) for s in validation) == 51362
    assert validation[0].tokens[:2] == ("CRICKET", "-")
    assert all("-DOCSTART-" not in s.tokens for s in validation)
    assert head_cls.labels_from_examples(validation) == [
        "O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"
    ]


@pytest.mark.parametrize(
    "lines",
    [
        # IOB1 (tab-separated): an entity starts with I-, B- only between two.
        ["Peter\tI-PER", "Paul\tB-PER", "in\tO", "Paris\tI-LOC"],
        # BIOES
        ["Peter S-PER", "Paul S-PER", "in O", "Paris S-LOC"],
    ],
)
def test_iob1_and_bioes_files_are_converted_to_iob2(tmp_path, lines):
    path = tmp_path / "f.conll"
    path.write_text("-DOCSTART- O\n\n" + "\n".join(lines) + "\n")
    [sentence] = kerasft.get_head("ner").read_examples(path)
    assert sentence.tags == ("B-PER", "B-PER", "O", "B-LOC")
    assert sentence.line == 3


def test_training_ids_equal_serving_ids_on_the_whole_validation_split(
    validation, bert_preprocessor
):
    """The fit pipeline and the serving graph see the same ids for every sentence."""
    head = kerasft.get_head("ner")(kerasft.get_head("ner").labels_from_examples(validation))
    pre = bert_preprocessor
    train_ids, train_targets = [], []
    for features, targets in head.make_dataset(validation, pre, batch_size=256):
        ids, y = features["token_ids"].numpy(), targets["ner"].numpy()
        for row, n in enumerate(features["padding_mask"].numpy().sum(-1)):
            train_ids.append(ids[row, :n].tolist())
            train_targets.append(y[row, :n])
    texts = [" ".join(s.tokens) for s in validation]
    mismatches, whole_string = [], 0
    for start in range(0, len(texts), 1024):
        batch = texts[start : start + 1024]
        features = {k: v.numpy() for k, v in head.serving_features(pre, tf.constant(batch)).items()}
        plain = pre(tf.constant(batch))["token_ids"].numpy()  # `tokenize` signature ids
        for row in range(len(batch)):
            i = start + row
            n = int(features["padding_mask"][row].sum())
            ids = features["token_ids"][row, :n].tolist()
            first = features["first_piece_index"][row, : features["num_words"][row]]
            labelled = np.flatnonzero(train_targets[i] >= 0)
            if ids != train_ids[i] or first[first >= 0].tolist() != labelled.tolist():
                mismatches.append(i)
            whole_string += ids == plain[row, :n].tolist()
            assert features["num_words"][row] == len(validation[i].tokens)
    assert not mismatches, f"{len(mismatches)} sentences differ, e.g. {texts[mismatches[0]]!r}"
    # Word-by-word tokenization matches tokenizing the whole sentence here.
    assert whole_string == len(texts)


def test_evaluate_matches_conlleval_on_word_tags(validation, bert_preprocessor):
    """Logits built from known word tags score exactly as conlleval scores those tags."""
    head_cls = kerasft.get_head("ner")
    examples = validation[:600]
    head = head_cls(head_cls.labels_from_examples(validation))
    rng = np.random.default_rng(0)
    predicted = []
    for s in examples:
        tags = list(s.tags)
        for w in range(len(tags)):  # corrupt ~15% of words, I- after O included
            if rng.random() < 0.15:
                tags[w] = head.labels[rng.integers(head.num_labels)]
        predicted.append(tags)
    targets, logits, k = [], [], 0
    for _, y in head.make_dataset(examples, bert_preprocessor, batch_size=64):
        y = y["ner"].numpy()
        z = np.zeros(y.shape + (head.num_labels,), "float32")
        for row in range(len(y)):
            for w, position in enumerate(np.flatnonzero(y[row] >= 0)):
                z[row, position, head.labels.index(predicted[k][w])] = 1.0
            k += 1
        targets.append(y)
        logits.append(z)
    report = head.evaluate(targets, logits, examples)
    expected = conlleval([s.tags for s in examples], predicted)
    assert report["f1"] == pytest.approx(expected.f1)
    assert report["per_type"] == expected.per_type
    assert report["counts"] == expected.counts
    assert 0.5 < report["f1"] < 0.95


def test_evaluate_counts_truncated_words_as_o():
    head = heads.ner.NerHead(["O", "B-PER", "I-PER"])
    pre = kerasft.TextPreprocessor(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"], sequence_length=4
    )
    from kerasft.data.conll import Sentence

    examples = [Sentence(("a", "a", "b"), ("O", "B-PER", "I-PER"), "f", 1)]
    [(_, y)] = list(head.make_dataset(examples, pre))
    y = y["ner"].numpy()
    assert y.tolist() == [[-1, 0, 1, -1]]  # room for 2 of 3 words
    logits = np.eye(3, dtype="float32")[np.maximum(y, 0)]
    report = head.evaluate([y], [logits], examples)
    assert report["counts"]["found_guessed"] == 1 and report["f1"] == 0.0
