"""ELECTRA replaced-token detection (Clark et al. 2020) under plain `model.fit`.

A small masked-LM generator fills the masked positions of the batches that
`kerasft.pretraining.mlm.mlm_dataset` makes for `BertMaskedLM` with tokens
sampled from its own predictions; the discriminator, the `BertBackbone` that
fine-tuning uses afterwards, learns to tell which tokens were replaced. The
generator shares the discriminator's token embedding (ELECTRA's "embedding
sharing"), so the embedding learns from both losses, while the sampled ids
keep the discriminator loss from reaching the generator's own weights.

Masked-LM warmup: while `masked_lm_warmup` is on, both networks learn
masked-LM instead (the backbone through its own `MaskedLMHead`). A
discriminator trained from random weights stays at the trivial answer
("nothing was replaced") for thousands of steps at our budgets: spotting a
replacement needs attention that compares neighbours, and the one-bit loss
gives almost no signal until such attention exists. Masked-LM builds that
attention fast, after which replaced-token detection learns within tens of
steps (`benchmarks/electra_synthetic.py` shows both).

`train_step`/`test_step` are overridden (TensorFlow backend) because the
discriminator input needs the labels and mask weights, which `call` never
sees.
"""

from __future__ import annotations

import keras
import keras_hub
import tensorflow as tf
from keras import ops

_INIT_STDDEV = 0.02
_METRIC_NAMES = (
    "loss", "generator_loss", "generator_accuracy", "discriminator_loss",
    "discriminator_accuracy", "replaced_accuracy", "original_rate",
)
# What a step of the masked-LM warmup reports: the RTD figures do not exist yet.
_WARMUP_METRIC_NAMES = (
    "loss", "generator_loss", "generator_accuracy", "discriminator_mlm_loss",
    "discriminator_mlm_accuracy",
)


def _init():
    return keras.initializers.TruncatedNormal(stddev=_INIT_STDDEV)


def replaced_token_labels(original_ids, discriminator_ids, padding_mask):
    """1 where the discriminator sees a token other than the original, else 0.

    A sampled token that happens to equal the original is labelled 0 (as in
    the paper), and padding is always 0.

    Args:
        original_ids: int tensor `[batch, length]`, the unmasked sequence.
        discriminator_ids: int tensor `[batch, length]`, the corrupted one.
        padding_mask: bool or int tensor `[batch, length]`, 1 for real tokens.

    Example:
    >>> replaced_token_labels([[5, 6, 7]], [[5, 9, 7]], [[1, 1, 1]])
    ... # [[0, 1, 0]]  # doctest: +SKIP
    """
    differs = ops.not_equal(ops.cast(original_ids, "int32"),
                            ops.cast(discriminator_ids, "int32"))
    real = ops.cast(padding_mask, "bool")
    return ops.cast(ops.logical_and(differs, real), "int32")


def _as_tensors(x):
    # Keras layers refuse nested inputs that mix numpy arrays and tensors.
    return {k: ops.convert_to_tensor(v) for k, v in x.items()}


def _default_generator_width(hidden_dim: int) -> int:
    # A quarter of the discriminator (the paper's best range is 1/4-1/2), but
    # never so narrow that attention heads become meaningless on tiny models.
    return max(hidden_dim // 4, min(hidden_dim, 32))


@keras.saving.register_keras_serializable(package="kerasft")
class ElectraPretrainer(keras.Model):
    """A generator and the `backbone` discriminator trained with ELECTRA's RTD.

    Trains on the `(x, y, sample_weight)` batches `BertMaskedLM.fit` takes:
    `x` has `token_ids` (already masked), `segment_ids`, `padding_mask` and
    `mask_positions`; `y` holds the original ids at `mask_positions`;
    `sample_weight` is 1 for real selections and 0 for padding slots.
    The loss is the generator's masked-LM cross-entropy (mean over real
    masks) plus `rtd_weight` times the discriminator's binary cross-entropy
    (mean over real tokens). `backbone` itself is left a plain `BertBackbone`.

    Args:
        backbone: the `keras_hub.models.BertBackbone` to pretrain (the
            discriminator).
        generator_hidden_dim: generator width; defaults to a quarter of the
            backbone's (at least 32, at most the backbone's), rounded up to a
            multiple of `generator_num_heads`.
        generator_num_layers: generator blocks; defaults to the backbone's.
        generator_intermediate_dim: feed-forward width; defaults to 4x width.
        generator_num_heads: defaults to one head per 64 units (at least 1).
        rtd_weight: weight of the discriminator loss (50 in the paper).
        seed: seeds the sampling of replacement tokens.

    Set `masked_lm_warmup = True` for the steps that should train masked-LM
    (loss: the generator's plus the backbone's masked-LM cross-entropy);
    evaluation always scores replaced-token detection.

    Example:
    >>> pretrainer = ElectraPretrainer(backbone, seed=0)  # doctest: +SKIP
    >>> pretrainer.compile(optimizer=keras.optimizers.AdamW(5e-4))  # doctest: +SKIP
    >>> pretrainer.fit(mlm_dataset(texts, preprocessor, batch_size=32))  # doctest: +SKIP
    """

    def __init__(
        self,
        backbone: keras_hub.models.BertBackbone,
        generator_hidden_dim: int | None = None,
        generator_num_layers: int | None = None,
        generator_intermediate_dim: int | None = None,
        generator_num_heads: int | None = None,
        rtd_weight: float = 50.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        hidden = backbone.hidden_dim
        width = generator_hidden_dim or _default_generator_width(hidden)
        heads = generator_num_heads or max(1, width // 64)
        if generator_hidden_dim is None:
            width = -(-width // heads) * heads
        if width % heads:
            raise ValueError(
                "`generator_hidden_dim` must be divisible by `generator_num_heads`. "
                f"Received: generator_hidden_dim={width}, generator_num_heads={heads}.")
        self.backbone = backbone
        self.generator_hidden_dim = width
        self.generator_num_heads = heads
        self.generator_num_layers = generator_num_layers or backbone.num_layers
        self.generator_intermediate_dim = generator_intermediate_dim or 4 * width
        self.rtd_weight = float(rtd_weight)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="sampling")

        common = {"dtype": backbone.dtype_policy}
        # A fresh initializer per layer: an unseeded Keras initializer object
        # draws the same values every call, so sharing one would clone weights.
        def dense():
            return {"kernel_initializer": _init(), **common}

        self.generator_projection = keras.layers.Dense(
            width, name="generator_embedding_projection", **dense())
        self.generator_position_embedding = keras_hub.layers.PositionEmbedding(
            sequence_length=backbone.max_sequence_length, initializer=_init(),
            name="generator_position_embedding", **common)
        self.generator_layer_norm = keras.layers.LayerNormalization(
            epsilon=1e-12, name="generator_embeddings_layer_norm", **common)
        self.generator_dropout = keras.layers.Dropout(
            backbone.dropout, name="generator_embeddings_dropout", **common)
        self.generator_layers = [
            keras_hub.layers.TransformerEncoder(
                num_heads=heads, intermediate_dim=self.generator_intermediate_dim,
                activation="gelu", dropout=backbone.dropout,
                layer_norm_epsilon=1e-12, name=f"generator_transformer_layer_{i}",
                **dense())
            for i in range(self.generator_num_layers)
        ]
        # The head's own dense maps the generator width back to the embedding
        # width before the tied output projection (ELECTRA's generator head),
        # so no separate width-d -> D layer is needed.
        self.generator_head = keras_hub.layers.MaskedLMHead(
            token_embedding=backbone.token_embedding, intermediate_activation="gelu",
            name="generator_mlm_head", **dense())
        # Dense(hidden, gelu) then one logit per token: the paper's head.
        self.discriminator_dense = keras.layers.Dense(
            hidden, activation="gelu", name="discriminator_dense", **dense())
        self.discriminator_logit = keras.layers.Dense(
            1, name="discriminator_logit", **dense())
        # Only trained during the masked-LM warmup; not saved with the backbone.
        self.discriminator_mlm_head = keras_hub.layers.MaskedLMHead(
            token_embedding=backbone.token_embedding, intermediate_activation="gelu",
            name="discriminator_mlm_head", **dense())
        names = dict.fromkeys(_METRIC_NAMES + _WARMUP_METRIC_NAMES)
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self._masked_lm_warmup = False
        self.build()

    def build(self, input_shape=None):
        hidden, width = self.backbone.hidden_dim, self.generator_hidden_dim
        self.generator_projection.build((None, None, hidden))
        self.generator_position_embedding.build((None, None, width))
        self.generator_layer_norm.build((None, None, width))
        for layer in self.generator_layers:
            layer.build((None, None, width))
        self.generator_head.build((None, None, width))
        self.discriminator_dense.build((None, None, hidden))
        self.discriminator_logit.build((None, None, hidden))
        self.discriminator_mlm_head.build((None, None, hidden))
        self.built = True

    @property
    def masked_lm_warmup(self) -> bool:
        """Whether `fit` trains masked-LM (True) or replaced-token detection."""
        return self._masked_lm_warmup

    @masked_lm_warmup.setter
    def masked_lm_warmup(self, value: bool) -> None:
        if bool(value) != self._masked_lm_warmup:
            self._masked_lm_warmup = bool(value)
            # The compiled step is traced for one phase: trace it again.
            self.train_function = None

    @property
    def metrics(self):
        # Only these: Keras's own compiled loss tracker would duplicate `loss`.
        return list(self._trackers.values())

    @property
    def generator_weights(self) -> list:
        """The generator's own trainable weights (not the shared embedding)."""
        shared = {id(v) for v in self.backbone.weights}
        layers = [self.generator_projection, self.generator_position_embedding,
                  self.generator_layer_norm, *self.generator_layers,
                  self.generator_head]
        # (`discriminator_mlm_head` belongs to the backbone's side.)
        return [v for layer in layers for v in layer.trainable_weights
                if id(v) not in shared]

    def generator_logits(self, x: dict, training: bool = False):
        """Generator logits `[batch, masks, vocabulary]` at `mask_positions`."""
        h = self.generator_projection(self.backbone.token_embedding(x["token_ids"]))
        h = self.generator_layer_norm(h + self.generator_position_embedding(h))
        h = self.generator_dropout(h, training=training)
        for layer in self.generator_layers:
            h = layer(h, padding_mask=x["padding_mask"], training=training)
        return self.generator_head(h, mask_positions=x["mask_positions"])

    def discriminator_logits(self, token_ids, x: dict, training: bool = False):
        """Replaced-token logits `[batch, length]` of the backbone on `token_ids`."""
        segment_ids = x.get("segment_ids")
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        inputs = {"token_ids": token_ids, "segment_ids": segment_ids,
                  "padding_mask": x["padding_mask"]}
        h = self.backbone(inputs, training=training)["sequence_output"]
        return ops.squeeze(self.discriminator_logit(self.discriminator_dense(h)), -1)

    def masked_lm_forward(self, x: dict, y, sample_weight=None,
                          training: bool = False) -> dict:
        """Both networks as masked-LMs on the masked batch: logits and losses.

        Example:
        >>> out = pretrainer.masked_lm_forward(x, y, w)  # doctest: +SKIP
        >>> out["loss"]  # generator + backbone masked-LM loss  # doctest: +SKIP
        """
        x, y = _as_tensors(x), ops.convert_to_tensor(y)
        if sample_weight is None:
            sample_weight = ops.ones_like(y, "float32")
        weight = ops.cast(sample_weight, "float32")
        segment_ids = x.get("segment_ids")
        if segment_ids is None:
            segment_ids = ops.zeros_like(x["token_ids"])
        h = self.backbone({"token_ids": x["token_ids"], "segment_ids": segment_ids,
                           "padding_mask": x["padding_mask"]},
                          training=training)["sequence_output"]
        out = {
            "generator_logits": self.generator_logits(x, training=training),
            "discriminator_mlm_logits": self.discriminator_mlm_head(
                h, mask_positions=x["mask_positions"]),
        }
        for name in ("generator", "discriminator_mlm"):
            ce = ops.sparse_categorical_crossentropy(
                y, ops.cast(out[f"{name}_logits"], "float32"), from_logits=True)
            out[f"{name}_token_loss"] = ce
            out[f"{name}_loss"] = ops.divide_no_nan(ops.sum(ce * weight), ops.sum(weight))
        out["loss"] = out["generator_loss"] + out["discriminator_mlm_loss"]
        return out

    def call(self, inputs, training=False):
        # Without labels there is nothing to replace: score the given tokens.
        inputs = _as_tensors(inputs)
        return {
            "generator_logits": self.generator_logits(inputs, training),
            "discriminator_logits": self.discriminator_logits(
                inputs["token_ids"], inputs, training
            ),
        }

    def _corrupt(self, x, y, sample_weight, generator_logits, seed):
        token_ids = ops.cast(x["token_ids"], "int32")
        batch, masks = ops.shape(y)[0], ops.shape(y)[1]
        flat = ops.reshape(ops.cast(generator_logits, "float32"), (batch * masks, -1))
        # Sampled, not argmax, and outside the graph of gradients: the
        # discriminator loss must never train the generator.
        sampled = keras.random.categorical(
            ops.stop_gradient(flat), 1, dtype="int32", seed=seed)
        sampled = ops.reshape(sampled, (batch, masks))
        real = ops.cast(ops.greater(sample_weight, 0), "int32")
        # [batch, masks, length]: which position each real selection names;
        # padding slots (position 0, weight 0) name nothing.
        where = ops.one_hot(x["mask_positions"], ops.shape(token_ids)[1],
                            dtype="int32") * real[:, :, None]
        selected = ops.greater(ops.sum(where, axis=1), 0)
        original = ops.where(
            selected, ops.sum(where * ops.cast(y, "int32")[:, :, None], 1), token_ids)
        corrupted = ops.where(
            selected, ops.sum(where * sampled[:, :, None], 1), token_ids)
        labels = replaced_token_labels(original, corrupted, x["padding_mask"])
        return original, corrupted, labels

    def discriminator_inputs(self, x: dict, y, sample_weight=None, seed=None):
        """`(discriminator_ids, labels)` for a batch, sampled with `seed`.

        Args:
            x: the masked-LM inputs (`token_ids`, `padding_mask`,
                `mask_positions`, optionally `segment_ids`).
            y: the original ids at `mask_positions`.
            sample_weight: 1 for real selections, 0 for padding slots.
            seed: an int for a deterministic draw; `None` draws from (and
                advances) the model's `seed_generator`.

        Example:
        >>> ids, labels = pretrainer.discriminator_inputs(x, y, w, seed=1)
        ... # doctest: +SKIP
        """
        out = self.forward(x, y, sample_weight, training=False, seed=seed)
        return out["discriminator_ids"], out["labels"]

    def forward(self, x: dict, y, sample_weight=None, training: bool = False,
                seed=None) -> dict:
        """Both models on a batch: logits, corrupted ids, labels and losses.

        Args:
            x: the masked-LM inputs.
            y: the original ids at `mask_positions`.
            sample_weight: 1 for real selections, 0 for padding slots.
            training: dropout on.
            seed: as in `discriminator_inputs`.

        Example:
        >>> out = pretrainer.forward(x, y, w)  # doctest: +SKIP
        >>> out["loss"], out["generator_loss"], out["discriminator_loss"]  # doctest: +SKIP
        """
        x, y = _as_tensors(x), ops.convert_to_tensor(y)
        if sample_weight is None:
            sample_weight = ops.ones_like(y, "float32")
        mask_weight = ops.cast(sample_weight, "float32")
        token_weight = ops.cast(x["padding_mask"], "float32")
        gen_logits = self.generator_logits(x, training=training)
        seed = self.seed_generator if seed is None else seed
        original, corrupted, labels = self._corrupt(
            x, y, sample_weight, gen_logits, seed)
        disc_logits = ops.cast(
            self.discriminator_logits(corrupted, x, training=training), "float32")
        gen_ce = ops.sparse_categorical_crossentropy(
            y, ops.cast(gen_logits, "float32"), from_logits=True)
        disc_ce = ops.binary_crossentropy(
            ops.cast(labels, "float32"), disc_logits, from_logits=True)
        gen_loss = ops.divide_no_nan(ops.sum(gen_ce * mask_weight),
                                     ops.sum(mask_weight))
        disc_loss = ops.divide_no_nan(ops.sum(disc_ce * token_weight),
                                      ops.sum(token_weight))
        return {
            "generator_logits": gen_logits, "discriminator_logits": disc_logits,
            "original_ids": original, "discriminator_ids": corrupted,
            "labels": labels, "generator_token_loss": gen_ce,
            "discriminator_token_loss": disc_ce, "generator_loss": gen_loss,
            "discriminator_loss": disc_loss,
            "loss": gen_loss + self.rtd_weight * disc_loss,
        }

    def _update_metrics(self, x, y, sample_weight, out):
        mask_weight = ops.cast(sample_weight, "float32")

        def correct(logits):
            predicted = ops.argmax(logits, axis=-1)
            return ops.cast(ops.equal(predicted, ops.cast(y, "int32")), "float32")

        values = {
            "loss": (out["loss"], ops.cast(ops.shape(y)[0], "float32")),
            "generator_loss": (out["generator_token_loss"], mask_weight),
            "generator_accuracy": (correct(out["generator_logits"]), mask_weight),
        }
        if "labels" not in out:  # a masked-LM warmup step
            values["discriminator_mlm_loss"] = (
                out["discriminator_mlm_token_loss"], mask_weight)
            values["discriminator_mlm_accuracy"] = (
                correct(out["discriminator_mlm_logits"]), mask_weight)
            return self._record(values)
        token_weight = ops.cast(x["padding_mask"], "float32")
        labels = ops.cast(out["labels"], "float32")
        flagged = ops.cast(ops.greater(out["discriminator_logits"], 0), "float32")
        disc_correct = ops.cast(ops.equal(flagged, labels), "float32")
        values.update({
            "discriminator_loss": (out["discriminator_token_loss"], token_weight),
            "discriminator_accuracy": (disc_correct, token_weight),
            # Weighted by the replaced tokens alone: the hard cases.
            "replaced_accuracy": (disc_correct, labels * token_weight),
            # The accuracy of always answering "original".
            "original_rate": (1.0 - labels, token_weight),
        })
        return self._record(values)

    def _record(self, values: dict) -> dict:
        # Only the figures this kind of step has (history pads the others).
        for name, (value, weight) in values.items():
            self._trackers[name].update_state(value, sample_weight=weight)
        return {name: self._trackers[name].result() for name in values}

    def _unpack(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is None:
            sample_weight = ops.ones_like(y, "float32")
        return x, y, sample_weight

    def train_step(self, data):
        x, y, sample_weight = self._unpack(data)
        with tf.GradientTape() as tape:
            if self._masked_lm_warmup:
                out = self.masked_lm_forward(x, y, sample_weight, training=True)
            else:
                out = self.forward(x, y, sample_weight, training=True)
            # Replica gradients are summed under `tf.distribute`.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            loss = self.optimizer.scale_loss(out["loss"] / replicas)
        variables = self.trainable_variables
        gradients = tape.gradient(loss, variables)
        # A phase leaves some weights out (the RTD head in the warmup, the
        # backbone's MLM head after it, the unused pooler): not updated at all.
        # Built for every weight first, so the other phase can train its own.
        if not self.optimizer.built:
            self.optimizer.build(variables)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, variables) if g is not None])
        return self._update_metrics(x, y, sample_weight, out)

    def test_step(self, data):
        x, y, sample_weight = self._unpack(data)
        out = self.forward(x, y, sample_weight, training=False)
        return self._update_metrics(x, y, sample_weight, out)

    def get_config(self):
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "generator_hidden_dim": self.generator_hidden_dim,
            "generator_num_layers": self.generator_num_layers,
            "generator_intermediate_dim": self.generator_intermediate_dim,
            "generator_num_heads": self.generator_num_heads,
            "rtd_weight": self.rtd_weight,
            "seed": self.seed,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = keras.saving.deserialize_keras_object(
                config["backbone"])
        return cls(**config)
