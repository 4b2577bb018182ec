"""A backbone with one or more heads, as one `keras.Model`.

Inputs are the backbone's preprocessed dict (`token_ids`, `segment_ids`,
`padding_mask`); outputs are a dict of logits keyed by head name, so
`fit` takes `{head_name: targets}` and per-head losses. The text
preprocessor travels with the model (in its config) so that a saved model
can go from raw strings to predictions on its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasft.head import Head
from kerasft.optim.optimizers import build_before_fit
from kerasft.registry import load_all_heads
from kerasft.tokenizers import TextPreprocessor


@keras.saving.register_keras_serializable(package="kerasft")
class TaskModel(keras.Model):
    """A shared backbone feeding any set of heads.

    Args:
        backbone: a `keras_hub.models.BertBackbone`.
        heads: the heads; their names must be distinct.
        preprocessor: the `TextPreprocessor` the backbone was trained with.

    Example:
    >>> model = TaskModel(backbone, [SentimentHead(["neg", "pos"])], pre)  # doctest: +SKIP
    >>> model.compile(optimizer="adam", loss=model.default_losses())  # doctest: +SKIP
    """

    def __init__(
        self,
        backbone: keras.Model,
        heads: Sequence[Head],
        preprocessor: TextPreprocessor | None = None,
        **kwargs,
    ):
        heads = list(heads)
        if not heads:
            raise ValueError("`heads` must name at least one head. Received: [].")
        names = [h.name for h in heads]
        if len(set(names)) != len(names):
            raise ValueError(
                f"Head names must be distinct. Received: {names}. Pass "
                "`name=` to a head to rename it."
            )
        inputs = backbone.input
        backbone_outputs = backbone(inputs)
        features = {**backbone_outputs, "padding_mask": inputs["padding_mask"]}
        outputs = {h.name: h(features) for h in heads}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.heads = heads
        self._input_names = sorted(inputs)
        self.preprocessor = preprocessor

    def head(self, name: str) -> Head:
        for h in self.heads:
            if h.name == name:
                return h
        raise ValueError(
            f"No head named {name!r}. This model has: "
            f"{[h.name for h in self.heads]}."
        )

    def default_losses(self) -> dict:
        return {h.name: h.loss() for h in self.heads}

    def default_metrics(self) -> dict:
        return {h.name: h.metrics_list() for h in self.heads}

    # A `kerasft.finetuning.privacy.PrivateStep` while a DP fit runs, else
    # None. Not part of the config or weights: a DP-trained model saves,
    # loads and exports like any other.
    dp_step = None

    def train_step(self, data):
        if self.dp_step is not None:
            return self.dp_step(self, data)
        return super().train_step(data)

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, with the optimizer built before the first trace
        (`kerasft.optim.optimizers.build_before_fit`: one trace, not two)."""
        build_before_fit(self)
        return super().fit(*args, **kwargs)

    def serve(self, text: tf.Tensor, heads: Sequence[str] | None = None) -> dict:
        """Raw strings to each head's serving outputs (graph-safe)."""
        if self.preprocessor is None:
            raise ValueError(
                "This model has no `preprocessor`, so it cannot take raw "
                "text. Build it with `TaskModel(backbone, heads, preprocessor)`."
            )
        selected = heads or [h.name for h in self.heads]
        # Heads sharing a `serving_features` implementation share one
        # backbone pass; a head that splits text its own way gets its own.
        passes = {}
        outputs = {}
        for name in selected:
            head = self.head(name)
            key = type(head).serving_features
            if key not in passes:
                features = head.serving_features(self.preprocessor, text)
                inputs = {k: features[k] for k in self._input_names}
                passes[key] = (features, self(inputs, training=False))
            features, logits = passes[key]
            # Postprocessing and outputs in float32 whatever the model computed
            # in (`kerasft.precision`): mixed_bfloat16 exports serve float32.
            head_logits = tf.nest.map_structure(
                lambda t: tf.cast(t, tf.float32) if t.dtype.is_floating else t, logits[name])
            outputs[name] = head.postprocess(head_logits, features)
        return outputs

    def predict_text(self, texts: Sequence[str], head: str | None = None) -> dict:
        """Predictions for a list of strings, as numpy arrays (eager)."""
        name = head or self.heads[0].name
        outputs = self.serve(tf.constant(list(texts)), heads=[name])[name]
        return {
            k: (np.char.decode(v.numpy().astype(bytes), "utf-8")
                if v.dtype == tf.string else v.numpy())
            for k, v in outputs.items()
        }

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "heads": [keras.saving.serialize_keras_object(h) for h in self.heads],
            "preprocessor": (
                keras.saving.serialize_keras_object(self.preprocessor)
                if self.preprocessor is not None
                else None
            ),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        load_all_heads()
        config = dict(config)
        backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
        heads = [keras.saving.deserialize_keras_object(h) for h in config.pop("heads")]
        pre = config.pop("preprocessor", None)
        preprocessor = keras.saving.deserialize_keras_object(pre) if pre else None
        return cls(backbone=backbone, heads=heads, preprocessor=preprocessor, **config)


def resolve_model_path(path: str) -> str:
    """A `.keras` file, or the `model.keras` inside a run directory.

    Example:
    >>> resolve_model_path("runs/demo/sentiment")  # doctest: +SKIP
    'runs/demo/sentiment/model.keras'
    """
    if os.path.isdir(path):
        candidate = os.path.join(path, "model.keras")
        if not os.path.isfile(candidate):
            raise FileNotFoundError(
                f"No model found: {path!r} is a directory without model.keras. "
                "Expected a kerasft-finetune run directory or a `.keras` file."
            )
        return candidate
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No model found at {path!r}. Expected a `.keras` file or a "
            "kerasft-finetune run directory (holding model.keras)."
        )
    return path


# The binaries' flag that turns Keras safe mode off (`kerasft.cli.app`).
UNSAFE_FLAG = "--unsafe_deserialization"


def load_model(path: str, *, compile: bool = True, safe_mode: bool = True) -> TaskModel:
    """Load a `.keras` task model, importing every installed head first.

    Args:
        path: the `.keras` file.
        compile: also restore the optimizer, losses and metrics (needed to
            continue training; not to predict or export).
        safe_mode: refuse a file whose loading would run Python code stored
            in it (a `keras.layers.Lambda` of a lambda), as Keras safe mode
            does. False allows it: only for files you trust. A binary's
            `--unsafe_deserialization` turns safe mode off for the whole
            process (`keras.config.enable_unsafe_deserialization()`), which
            Keras lets win over `safe_mode=True`.

    Example:
    >>> model = load_model("runs/demo/sentiment/model.keras", compile=False)  # doctest: +SKIP
    """
    # Importing these registers kerasft's schedules, losses and optimizers,
    # which a compiled model's saved config refers to.
    import kerasft.optim.layerwise  # noqa: F401
    import kerasft.optim.losses  # noqa: F401
    import kerasft.optim.schedules  # noqa: F401

    load_all_heads()
    if not os.path.isfile(path):
        raise ValueError(f"Model file not found: {path!r}. Expected a `.keras` file.")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=safe_mode)
    except ValueError as e:
        # Keras's own message names only its Python switches.
        if "safe_mode=False" not in str(e):
            raise
        raise ValueError(
            f"Refused to load {path!r}: it holds Python code (a `Lambda` layer "
            "or a lambda) that loading would run, which Keras safe mode "
            f"forbids. If you trust the file, pass {UNSAFE_FLAG} to the binary "
            "(in Python: `kerasft.load_model(path, safe_mode=False)`)."
        ) from e
