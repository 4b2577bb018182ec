"""Continued pretraining from the real MiniLM-L6 Hugging Face checkpoint."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import minilm_dir, tiny_sentiment_examples
from kerasft.backbone import load_backbone
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.pretraining.run import PretrainRunConfig, run_pretraining


def test_hugging_face_minilm_loads_with_its_own_weights_and_vocabulary():
    from safetensors.numpy import load_file

    backbone, pre = load_backbone(minilm_dir(), sequence_length=16)
    assert (backbone.num_layers, backbone.hidden_dim, pre.vocabulary_size) == (6, 384, 30522)
    assert pre.lowercase and pre.sequence_length == 16
    weights = load_file(str(minilm_dir() / "model.safetensors"))
    key = next(k for k in weights if k.endswith("embeddings.word_embeddings.weight"))
    np.testing.assert_array_equal(backbone.token_embedding.embeddings.numpy(), weights[key])
    # Its vocabulary tokenizes as BERT uncased does.
    ids = pre(tf.constant(["Hello world"]))["token_ids"].numpy()[0].tolist()
    assert [pre.vocabulary[i] for i in ids] == ["[CLS]", "hello", "world", "[SEP]"]


@pytest.mark.large
def test_continued_pretraining_reloads_and_fine_tunes(tmp_path, tiny_sentiment_files):
    run_dir = tmp_path / "tapt"
    config = PretrainRunConfig(labelled_data=str(tmp_path), init_backbone=str(minilm_dir()),
                               sequence_length=16, validation_documents=2)
    train = PretrainConfig(steps=2, batch_size=2, warmup_steps=1, checkpoint_every=2)
    metrics = run_pretraining(config, train, str(run_dir), verbose=0)
    assert metrics["steps"] == 2 and metrics["vocabulary_size"] == 30522

    backbone, pre = load_backbone(run_dir / "backbone")
    assert backbone.num_layers == 6 and pre.vocabulary_size == 30522
    assert (run_dir / "vocab.txt").read_text().splitlines()[:1] == ["[PAD]"]

    # The continued backbone fine-tunes: one step of a head on it lowers the
    # loss (the CLI's --backbone path is covered by the demo chain's test).
    import kerasft
    from kerasft import testing

    head = kerasft.get_head("sentiment")(["negative", "positive"], pooling="mean")
    model = kerasft.TaskModel(backbone, [head], pre)
    examples = tiny_sentiment_examples()
    before, after = testing.check_one_step_lowers_loss(model, examples, learning_rate=1e-4)
    assert after < before
