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


# --- keras-team/keras#20585 -------------------------------------------------
# Keras 3 `fit`/`evaluate` on the TensorFlow backend under a tf.distribute
# strategy: (1) the symbolic build reduces the first distributed batch with
# `strategy.reduce("MEAN", batch)`, which fails when the replicas' parts
# differ in shape (a last, partial batch split 2 + 1, or different workers'
# batches under MultiWorkerMirroredStrategy) and is pointless (the build
# needs only shapes and dtypes); (2) `reduce_per_replica` reduces scalar
# metrics across workers with `axis=0`, which fails on scalars. Open since
# 2024-12. Each patch applies only while the buggy code is there (found by
# reading the installed source), so a fixed Keras switches it off.


def _symbolic_build_reduces_batches() -> bool:
    import inspect

    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    source = inspect.getsource(TensorFlowTrainer._maybe_symbolic_build)
    return "distribute_strategy.reduce(" in source


def _multi_worker_mean_uses_axis_0() -> bool:
    import inspect

    from keras.src.backend.tensorflow import trainer

    return 'strategy.reduce("MEAN", v, axis=0)' in inspect.getsource(trainer.reduce_per_replica)


_needed: dict[str, bool] = {}
_patched: set[str] = set()


def keras_20585_fixes() -> dict[str, bool]:
    """Which parts of the keras#20585 workaround the installed Keras needs.

    Read from Keras's own source before any patch (cached: a patched Keras
    no longer shows the bug).
    """
    if not _needed:
        _needed.update(
            symbolic_build=_symbolic_build_reduces_batches(),
            scalar_mean=_multi_worker_mean_uses_axis_0(),
        )
    return dict(_needed)


def patch_keras_20585() -> dict[str, bool]:
    """Work around keras#20585 for distributed `fit`/`evaluate` (idempotent).

    The symbolic build gets replica 0's part of the first batch instead of a
    cross-replica mean; scalar metrics are averaged across workers with
    `axis=None`. Only the parts the installed Keras still needs are applied.

    Returns:
        `keras_20585_fixes()`: which parts were needed, hence applied.
    """
    from keras.src.backend.tensorflow import trainer

    needed = keras_20585_fixes()
    if needed["symbolic_build"] and "symbolic_build" not in _patched:
        original = trainer.TensorFlowTrainer._maybe_symbolic_build

        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            if iterator is not None and self._distribute_strategy is not None:
                for _, _, it in iterator:
                    batch = next(it)
                    strategy = self.distribute_strategy
                    data_batch = tf.nest.map_structure(
                        lambda v: strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues) else v,
                        batch,
                    )
                    break
                iterator = None
            return original(self, iterator=iterator, data_batch=data_batch)

        trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
        _patched.add("symbolic_build")
    if needed["scalar_mean"] and "scalar_mean" not in _patched:
        reduce_per_replica = trainer.reduce_per_replica

        def patched_reduce(values, strategy, reduction):
            if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(
                strategy
            ):
                def mean(v):
                    local = strategy.experimental_local_results(v)[0]
                    return strategy.reduce("MEAN", v, axis=None if local.shape.rank == 0 else 0)

                return tf.nest.map_structure(mean, values)
            return reduce_per_replica(values, strategy, reduction)

        trainer.reduce_per_replica = patched_reduce
        _patched.add("scalar_mean")
    return needed
