"""Prototypical classification: a class scores by its distance to a learned prototype.

Snell et al. 2017 (*Prototypical networks*) and Jin et al. 2022
(*Prototypical fine-tuning*, arXiv 2211.13638): each class owns a point in
the text-embedding space, and its logit is the negative squared Euclidean
distance from the pooled text to that point, times a learned scale. With few
labels this regularises more than a free linear layer: a class is one point,
not a hyperplane per pair of classes.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kerasft")
class PrototypeLogits(keras.layers.Layer):
    """Logits `-scale * ||x - prototype_c||^2` for each class `c`.

    Args:
        num_classes: prototypes (one a class, in label order).
        initial_scale: the starting distance scale (learned; kept positive
            through its logarithm).

    Example:
    >>> layer = PrototypeLogits(3)
    >>> tuple(layer(keras.ops.ones((2, 8))).shape)
    (2, 3)
    """

    def __init__(self, num_classes: int, initial_scale: float = 1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if num_classes < 2:
            raise ValueError(
                f"`num_classes` must be at least 2. Received: num_classes={num_classes}."
            )
        if initial_scale <= 0:
            raise ValueError(
                "`initial_scale` must be > 0. Received: "
                f"initial_scale={initial_scale}."
            )
        self.num_classes = num_classes
        self.initial_scale = initial_scale

    def build(self, input_shape):
        # Zeros: every class starts equally far from every text; the labels
        # pull each prototype toward its class (no symmetry to break).
        self.prototypes = self.add_weight(
            name="prototypes", shape=(self.num_classes, input_shape[-1]),
            initializer="zeros",
        )
        self.log_scale = self.add_weight(
            name="log_scale", shape=(),
            initializer=keras.initializers.Constant(float(keras.ops.log(self.initial_scale))),
        )
        self.built = True

    def call(self, inputs):
        x = keras.ops.cast(inputs, "float32")
        # ||x||^2 - 2 x.p + ||p||^2: one matmul, no [batch, classes, dim] tensor.
        distances = (
            keras.ops.sum(x * x, axis=-1, keepdims=True)
            - 2.0 * keras.ops.matmul(x, keras.ops.transpose(self.prototypes))
            + keras.ops.sum(self.prototypes * self.prototypes, axis=-1)[None, :]
        )
        return -keras.ops.exp(self.log_scale) * distances

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes,
                "initial_scale": self.initial_scale}
