"""Vocabulary extension: new pieces appended, old ids kept, the embedding grown by exactly them."""

import json

import numpy as np
import pytest
import tensorflow as tf

import kerasft
from conftest import POSITIVE, TINY_VOCAB, tiny_sentiment_examples
from kerasft import testing
from kerasft.backbone import BackboneConfig, build_backbone, load_backbone
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.tokenizers import TextPreprocessor
from kerasft.pretraining.run import PretrainRunConfig, run_pretraining
from kerasft.pretraining.vocabulary_extension import (
    extend_vocabulary,
    grow_token_embedding,
    new_pieces,
    old_piece_ids,
    pieces_per_word,
)

DOMAIN = ["thou art a villain , thou knave", "wherefore art thou so dull , knave ?",
          "the knave doth protest", "thou villain , thou rogue"] * 5


def test_old_piece_ids_split_word_starts_and_continuations_greedily():
    index = {p: i for i, p in enumerate(TINY_VOCAB)}
    assert old_piece_ids("films", index) == [index["film"], index["##s"]]
    assert old_piece_ids("##ly", index) == [index["##ly"]]
    assert old_piece_ids("zq", index) == [index["[UNK]"]] * 2


def test_new_pieces_are_absent_from_the_vocabulary_and_capped():
    texts = tf.data.Dataset.from_tensor_slices(DOMAIN)
    added = new_pieces(texts, TINY_VOCAB, 5, lowercase=True)
    assert 0 < len(added) <= 5
    assert not set(added) & set(TINY_VOCAB)
    many = new_pieces(texts, TINY_VOCAB, 50, lowercase=True)
    assert "thou" in many
    # Only pieces greedy longest-match actually uses on the corpus, not the
    # learner's intermediate merges (`kn` on the way to `knave`).
    extended = TextPreprocessor(TINY_VOCAB + many)
    used = set(extended.tokenize(tf.constant(DOMAIN)).flat_values.numpy().tolist())
    assert all(extended.vocabulary.index(p) in used for p in many)
    assert "kn" not in many and "knave" in many


def test_grow_keeps_every_weight_and_starts_new_rows_at_the_old_pieces_mean(tiny_backbone):
    added = ["films", "##ingly"]
    grown = grow_token_embedding(tiny_backbone, TINY_VOCAB, added)
    old = tiny_backbone.token_embedding.embeddings.numpy()
    new = grown.token_embedding.embeddings.numpy()
    assert new.shape == (len(TINY_VOCAB) + 2, old.shape[1])
    np.testing.assert_array_equal(new[: len(TINY_VOCAB)], old)
    index = {p: i for i, p in enumerate(TINY_VOCAB)}
    np.testing.assert_allclose(new[-2], old[[index["film"], index["##s"]]].mean(0), rtol=1e-6)
    np.testing.assert_allclose(new[-1], old[[index["##ing"], index["##ly"]]].mean(0), rtol=1e-6)
    others = [w for w in tiny_backbone.weights if w.path != tiny_backbone.token_embedding.embeddings.path]
    grown_others = [w for w in grown.weights if w.path != grown.token_embedding.embeddings.path]
    for a, b in zip(others, grown_others, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_extend_vocabulary_appends_and_shortens_the_domain_text():
    # A checkpoint that spells every word letter by letter, as a general
    # vocabulary spells rare domain words.
    letters = sorted(set("".join(DOMAIN).replace(" ", "")))
    vocab = TINY_VOCAB + [c for c in letters if c not in TINY_VOCAB] + [
        "##" + c for c in letters if "##" + c not in TINY_VOCAB]
    backbone = build_backbone(BackboneConfig(vocabulary_size=len(vocab), num_layers=1,
                                             num_heads=2, hidden_dim=16, intermediate_dim=32))
    texts = tf.data.Dataset.from_tensor_slices(DOMAIN)
    grown, pre, record = extend_vocabulary(backbone, TextPreprocessor(vocab), texts, 30,
                                           held_out=DOMAIN[:4])
    assert pre.vocabulary[: len(vocab)] == vocab
    assert pre.vocabulary_size == len(vocab) + record["added"] == record["vocabulary_size_after"]
    assert grown.token_embedding.embeddings.shape[0] == pre.vocabulary_size
    assert record["pieces_per_word_after"] < record["pieces_per_word_before"]
    assert pieces_per_word(pre, DOMAIN[:4]) == pytest.approx(record["pieces_per_word_after"], abs=1e-4)


def test_extend_vocabulary_needs_a_starting_checkpoint():
    with pytest.raises(ValueError, match="needs `init_backbone`"):
        PretrainRunConfig(corpora=("x.txt",), extend_vocabulary=10)


@pytest.mark.large
def test_extended_checkpoint_pretrains_reloads_fine_tunes_and_serves(tmp_path, tiny_hf_bert_dir):
    (tmp_path / "domain.txt").write_text("\n".join(DOMAIN) + "\n")
    run_dir = tmp_path / "extended"
    config = PretrainRunConfig(corpora=(str(tmp_path / "domain.txt"),),
                               init_backbone=str(tiny_hf_bert_dir), extend_vocabulary=40,
                               sequence_length=16, validation_documents=4)
    metrics = run_pretraining(config, PretrainConfig(steps=2, batch_size=2, warmup_steps=1,
                                                     checkpoint_every=2), str(run_dir), verbose=0)
    record = metrics["vocabulary_extension"]
    assert record["added"] > 0
    # The tiny checkpoint spells no domain word: fewer [UNK]s, not fewer pieces.
    assert record["unknown_rate_after"] < record["unknown_rate_before"]
    saved = json.loads((run_dir / "metrics.json").read_text())["vocabulary_extension"]
    assert saved == record

    backbone, pre = load_backbone(run_dir / "backbone")
    assert pre.vocabulary[: len(TINY_VOCAB)] == TINY_VOCAB
    assert pre.vocabulary_size == len(TINY_VOCAB) + record["added"] == metrics["vocabulary_size"]
    assert backbone.token_embedding.embeddings.shape[0] == pre.vocabulary_size

    head = kerasft.get_head("sentiment")(["negative", "positive"], pooling="mean")
    model = kerasft.TaskModel(backbone, [head], pre)
    examples = tiny_sentiment_examples()
    before, after = testing.check_one_step_lowers_loss(model, examples, learning_rate=1e-3)
    assert after < before
    result = testing.check_export_and_serve({"extended": model}, DOMAIN[:3] + POSITIVE[:2],
                                            tmp_path / "saved_models")
    assert "sentiment" in result["extended"]["outputs"]
