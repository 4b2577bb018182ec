"""Each private API kerasft uses works on the pinned library versions."""

from importlib import metadata

import keras
import numpy as np
import tensorflow as tf

from kerasft import compat
from conftest import NEGATIVE, POSITIVE, minilm_dir


def test_checked_versions_are_the_installed_pins():
    # An upgrade must re-check every function below, then update the pins.
    installed = {name: metadata.version(name.replace("_", "-")) for name in compat.CHECKED_VERSIONS}
    assert installed == compat.CHECKED_VERSIONS


def test_sentencepiece_resource_tokenizes_with_a_stable_shared_name():
    from kerasft.tokenizers import train_sentencepiece

    proto = train_sentencepiece(POSITIVE + NEGATIVE, 30)
    handle = compat.sentencepiece_resource(proto, "kerasft_compat_test")
    import tensorflow_text as tf_text

    pieces = tf_text.SentencepieceTokenizer(model=proto).tokenize(["the film is good"])
    assert handle.dtype == tf.resource and pieces.shape[0] == 1


def test_bert_basic_tokenizer_splits_and_lowercases():
    words = compat.bert_basic_tokenizer(True).tokenize(tf.constant(["Héllo, World!"]))
    assert words.to_list() == [[b"hello", b",", b"world", b"!"]]


def test_hf_bert_directory_loads_as_a_bert_backbone():
    backbone = compat.load_hf_bert_backbone(str(minilm_dir()))
    assert backbone.num_layers == 6 and backbone.hidden_dim == 384


def test_seed_generator_states_find_dropout_rng():
    layer = keras.layers.Dropout(0.5, seed=1)
    model = keras.Sequential([keras.Input((3,)), layer])
    states = compat.seed_generator_states(model)
    assert len(states) == 1
    before = np.array(states[0])
    model(np.ones((1, 3)), training=True)
    assert not np.array_equal(before, np.array(states[0]))


def test_optimizer_variables_built_for_lists_what_build_saw():
    a = keras.Variable(np.ones(2, "float32"))
    optimizer = keras.optimizers.Adam()
    assert compat.optimizer_variables_built_for(optimizer) == []
    optimizer.build([a])
    assert [id(v) for v in compat.optimizer_variables_built_for(optimizer)] == [id(a)]


def test_keras_20585_workaround_is_needed_and_applied():
    # While the bug is in the pinned Keras, both parts are needed; the
    # mirrored test in tests/test_distribution.py fails without them (an
    # uneven first evaluation batch, 2 + 1 rows, cannot be MEAN-reduced).
    from keras.src.backend.tensorflow import trainer

    needed = compat.patch_keras_20585()
    assert needed == {"symbolic_build": True, "scalar_mean": True}
    assert trainer.TensorFlowTrainer._maybe_symbolic_build.__module__ == "kerasft.compat"
    assert trainer.reduce_per_replica.__module__ == "kerasft.compat"
    assert compat.patch_keras_20585() == needed  # idempotent
