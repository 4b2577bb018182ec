"""`run_pretraining` end to end with SentencePiece, and the `fill_mask` export."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_VOCAB
from kerasft.backbone import load_backbone
from kerasft.export.fill_mask import export_fill_mask, mask_aware_pieces
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.pretraining.run import PretrainRunConfig, run_pretraining
from kerasft.tokenizers import SentencePiecePreprocessor, TextPreprocessor


def test_mask_markers_become_the_mask_id_between_tokenized_parts():
    pre = TextPreprocessor(TINY_VOCAB, sequence_length=16)
    pieces = mask_aware_pieces(
        pre, tf.constant(["the [MASK] is good", "[MASK]", "", "a [MASK] [MASK]"])
    ).to_list()
    mask, ids = pre.mask_token_id, TINY_VOCAB.index
    assert pieces == [
        [ids("the"), mask, ids("is"), ids("good")], [mask], [], [ids("a"), mask, mask],
    ]


def test_run_config_rejects_an_unknown_tokenizer():
    with pytest.raises(ValueError, match="`tokenizer` must be one of"):
        PretrainRunConfig(tokenizer="bpe")


def test_run_config_records_its_settings_flat():
    # config.json's "run" entry: the backbone size from BackboneSize, the rest
    # from PretrainRunConfig, one flat dict as before.
    assert dataclasses.asdict(PretrainRunConfig(num_layers=1, corpora=("a.txt",))) == {
        "corpora": ("a.txt",), "labelled_data": "", "labelled_splits": ("train",),
        "allow_test_text": False, "init_backbone": "", "extend_vocabulary": 0,
        "tokenizer": "wordpiece",
        "vocabulary_size": 8000, "lowercase": True, "vocabulary_documents": 200_000,
        "sequence_length": 128, "num_layers": 1, "num_heads": 4, "hidden_dim": 128,
        "intermediate_dim": 512, "dropout": 0.0, "finetune_dropout": 0.1,
        "validation_documents": 500,
    }


@pytest.mark.large
def test_sentencepiece_run_and_its_fill_mask_export(tmp_path, tiny_sentiment_files):
    run_dir = tmp_path / "run"
    config = PretrainRunConfig(
        labelled_data=str(tmp_path), tokenizer="sentencepiece", vocabulary_size=40,
        sequence_length=16, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, validation_documents=4,
    )
    train = PretrainConfig(steps=4, batch_size=4, warmup_steps=1, checkpoint_every=2,
                           packing="pad", whole_word_masking=True)
    metrics = run_pretraining(config, train, str(run_dir), verbose=0)

    assert metrics["steps"] == 4 and metrics["vocabulary_size"] == 40
    assert {"loss", "accuracy"} <= set(metrics["validation_after"])
    resolved = json.loads((run_dir / "config.json").read_text())
    assert resolved["tokenizer_actual"] == "sentencepiece"
    assert resolved["train"]["packing"] == "pad"
    for name in ("sentencepiece.model", "vocab.txt", "masked_lm_head.npz",
                 "backbone/assets/tokenizer/vocabulary.spm", "tensorboard",
                 "backup/step-00000004/state.json"):
        assert (run_dir / name).exists(), name
    backbone, pre = load_backbone(run_dir / "backbone")
    assert isinstance(pre, SentencePiecePreprocessor) and pre.sequence_length == 16

    path = export_fill_mask(run_dir, tmp_path / "saved_models", top_k=3)
    assert path == tmp_path / "saved_models" / "fill_mask" / "1"
    assert (tmp_path / "saved_models" / "models.config").is_file()
    serve = tf.saved_model.load(str(path)).signatures["fill_mask"]
    out = serve(text=tf.constant(["the [MASK] is good", "no marker", "a [MASK] [MASK] film"]))
    assert out["num_masks"].numpy().tolist() == [1, 0, 2]
    assert out["token_ids"].shape == out["scores"].shape == out["tokens"].shape == (3, 2, 3)
    scores = out["scores"].numpy()
    assert (np.diff(scores[0, 0]) <= 0).all() and 0 < scores[0, 0].sum() <= 1
    assert (out["token_ids"].numpy()[1] == -1).all() and out["tokens"].numpy()[0, 1, 0] == b""
    vocab = pre.vocabulary
    assert [vocab[i].encode() for i in out["token_ids"].numpy()[2, 1]] == \
        out["tokens"].numpy()[2, 1].tolist()


@pytest.mark.large
def test_the_same_command_twice_is_the_same_run(tmp_path, tiny_sentiment_files):
    # Regression: the new backbone was built before the seed was set.
    config = PretrainRunConfig(
        labelled_data=str(tmp_path), vocabulary_size=60, sequence_length=16,
        num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        validation_documents=4,
    )
    train = PretrainConfig(steps=2, batch_size=4, warmup_steps=1, checkpoint_every=2, seed=3)
    first, second = (
        run_pretraining(config, train, str(tmp_path / name), verbose=0)
        for name in ("a", "b")
    )
    assert first["validation_before"] == second["validation_before"]
    assert first["validation_after"] == second["validation_after"]
