"""Every use of a pinned library's private API, in one place.

kerasft needs a few things the public APIs of its pinned libraries do not
offer. Each is wrapped here, named for what kerasft needs, and checked by
`tests/test_compat.py` against the pinned versions in `setup.cfg`, so an
upgrade that moves one fails one test that names it, not a training run.
Nothing else in kerasft imports a `_private` name or a `.src`/`.python`
module of another package.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# The versions these private APIs were checked against (setup.cfg pins them).
CHECKED_VERSIONS = {"keras": "3.15.1", "keras_hub": "0.32.0", "tensorflow_text": "2.21.1"}


def sentencepiece_resource(model: bytes, shared_name: str) -> tf.Tensor:
    """tf.text's SentencePiece model resource op, under a name of our choice.

    tf.text's public `SentencepieceTokenizer` creates the resource with a
    random shared name; the export needs a stable one.
    """
    from tensorflow_text.python.ops.sentencepiece_tokenizer import (
        gen_sentencepiece_tokenizer,
    )

    return gen_sentencepiece_tokenizer.sentencepiece_op(model=model, shared_name=shared_name)


def bert_basic_tokenizer(lower_case: bool):
    """tf.text's BERT basic tokenizer (lowercasing, accent stripping, punctuation split).

    The word split `BertTokenizer` applies before WordPiece; tf.text does not
    export it on its own, and vocabulary training must split words the same way.
    """
    from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer

    return BasicTokenizer(lower_case=lower_case)


def load_hf_bert_backbone(directory: str) -> keras.Model:
    """A keras-hub `BertBackbone` from a Hugging Face BERT directory (safetensors).

    keras-hub's converter is reached through its preset loader, which its
    public `from_preset` only uses for `hf://` handles.
    """
    import keras_hub
    from keras_hub.src.utils.preset_utils import get_preset_loader

    return get_preset_loader(directory).load_backbone(keras_hub.models.BertBackbone, True)


def seed_generator_states(model: keras.Model) -> list:
    """The RNG state variables of every layer's seed generators (dropout, sampling).

    `save_weights` does not include them, and exact resume needs them.
    """
    states = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", []) or []:
            states.append(generator.state)
    return states


def optimizer_variables_built_for(optimizer: keras.optimizers.Optimizer) -> list:
    """The model variables a built Keras optimizer keeps slots for ([] if unbuilt)."""
    return list(getattr(optimizer, "_trainable_variables", []) or [])
