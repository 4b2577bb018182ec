"""Freezing strategies: linear probing, two-stage (LP-FT), gradual unfreezing.

Under Keras 3 a `trainable` change only takes effect once the train function
is re-traced: `model.compile()` does that between fits, and inside one fit
`GradualUnfreezing` calls `model.make_train_function(force=True)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras

from kerasft import compat

_TRANSFORMER_LAYER = re.compile(r"transformer_layer_(\d+)")
# Backbone layers that sit above the transformer stack; they train with the
# head rather than being unfrozen last.
_TOP_LAYER_NAMES = ("pooled_dense",)


def _set_trainable(layer, value):
    # Under the TF backend assigning the value `trainable` already has is
    # skipped by TF's attribute tracking, so it would not reach sublayers
    # frozen one by one: assign the opposite first.
    layer.trainable = not value
    layer.trainable = value


def get_backbone(
    model: keras.Model, backbone: str | keras.layers.Layer = "backbone"
) -> keras.layers.Layer:
    """Find the backbone inside a task model.

    Args:
        model: the task model.
        backbone: the backbone layer itself, the name of an attribute of
            `model` holding it (as on `keras_hub` tasks), or the name of a
            sublayer of `model`.

    Example:
    >>> backbone = get_backbone(model)  # doctest: +SKIP
    """
    if isinstance(backbone, keras.layers.Layer):
        return backbone
    if not isinstance(backbone, str):
        raise TypeError(
            "`backbone` must be a layer or a layer name. Received: "
            f"backbone={backbone!r} of type {type(backbone).__name__}"
        )
    attr = getattr(model, backbone, None)
    if isinstance(attr, keras.layers.Layer):
        return attr
    names = [layer.name for layer in model.layers]
    if backbone not in names:
        raise ValueError(
            f"`backbone` must name a sublayer of the model. Received: "
            f"backbone={backbone!r}; the model's layers are {names}. Pass the "
            "right name or the backbone layer itself."
        )
    return model.get_layer(backbone)


def freeze_backbone(
    model: keras.Model, backbone: str | keras.layers.Layer = "backbone"
) -> keras.layers.Layer:
    """Freeze the backbone so only the head trains (linear probing).

    Compile the model after calling this; Keras only picks up `trainable`
    changes when the train function is rebuilt.

    Args:
        model: the task model.
        backbone: the backbone layer or its name (see `get_backbone`).

    Example:
    >>> freeze_backbone(model)  # doctest: +SKIP
    >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    """
    layer = get_backbone(model, backbone)
    _set_trainable(layer, False)
    return layer


def unfreeze_backbone(
    model: keras.Model, backbone: str | keras.layers.Layer = "backbone"
) -> keras.layers.Layer:
    """Make the backbone (and all its sublayers) trainable again.

    Args:
        model: the task model.
        backbone: the backbone layer or its name (see `get_backbone`).

    Example:
    >>> unfreeze_backbone(model)  # doctest: +SKIP
    """
    layer = get_backbone(model, backbone)
    _set_trainable(layer, True)
    return layer


def linear_probe_fit(
    model: keras.Model,
    train_ds,
    *,
    epochs: int,
    compile_kwargs: dict,
    validation_data=None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    backbone: str | keras.layers.Layer = "backbone",
    **fit_kwargs,
) -> keras.callbacks.History:
    """Freeze the backbone, compile, and fit only the head (linear probing).

    The backbone stays frozen afterwards; call `unfreeze_backbone` to undo.

    Args:
        model: the task model.
        train_ds: training data as accepted by `model.fit`.
        epochs: the number of epochs.
        compile_kwargs: keyword arguments for `model.compile` (optimizer,
            loss, metrics, ...).
        validation_data: optional validation data for `model.fit`.
        callbacks: optional Keras callbacks.
        backbone: the backbone layer or its name (see `get_backbone`).
        **fit_kwargs: further `model.fit` arguments (e.g. `verbose`).

    Example:
    >>> history = linear_probe_fit(  # doctest: +SKIP
    ...     model, train_ds, epochs=3,
    ...     compile_kwargs={"optimizer": "adam", "loss": loss})
    """
    _check_epochs(epochs, "epochs")
    _check_compile_kwargs(compile_kwargs, "compile_kwargs")
    freeze_backbone(model, backbone)
    model.compile(**compile_kwargs)
    return model.fit(
        train_ds,
        epochs=epochs,
        validation_data=validation_data,
        callbacks=list(callbacks or []),
        **fit_kwargs,
    )


def two_stage_fit(
    model: keras.Model,
    train_ds,
    *,
    stage1_epochs: int,
    stage2_epochs: int,
    compile_kwargs_stage1: dict,
    compile_kwargs_stage2: dict,
    validation_data=None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    backbone: str | keras.layers.Layer = "backbone",
    **fit_kwargs,
) -> tuple[keras.callbacks.History, keras.callbacks.History]:
    """Train the head with the backbone frozen, then fine-tune everything.

    This is LP-FT (Kumar et al. 2022): linear probing first gives the head a
    good start so full fine-tuning distorts the pretrained features less.
    Stage 1 may use a class-balanced loss (ValizadehAslani et al. 2022) via
    `compile_kwargs_stage1`. Each stage compiles the model anew (Keras needs
    that for the `trainable` change), so each needs its own optimizer
    instance. Stage 2 continues the epoch count (`initial_epoch`) so logging
    callbacks see one run.

    Args:
        model: the task model.
        train_ds: training data as accepted by `model.fit`.
        stage1_epochs: epochs of head-only training (> 0).
        stage2_epochs: epochs of full fine-tuning (> 0).
        compile_kwargs_stage1: `model.compile` arguments for stage 1.
        compile_kwargs_stage2: `model.compile` arguments for stage 2.
        validation_data: optional validation data for both stages.
        callbacks: optional Keras callbacks used in both stages.
        backbone: the backbone layer or its name (see `get_backbone`).
        **fit_kwargs: further `model.fit` arguments (e.g. `verbose`).

    Example:
    >>> h1, h2 = two_stage_fit(  # doctest: +SKIP
    ...     model, train_ds, stage1_epochs=2, stage2_epochs=3,
    ...     compile_kwargs_stage1={
    ...         "optimizer": keras.optimizers.Adam(1e-3),
    ...         "loss": WeightedSparseCategoricalCrossentropy(
    ...             class_weights(counts))},
    ...     compile_kwargs_stage2={
    ...         "optimizer": make_optimizer(learning_rate=2e-5, total_steps=300),
    ...         "loss": keras.losses.SparseCategoricalCrossentropy(
    ...             from_logits=True)})
    """
    _check_epochs(stage1_epochs, "stage1_epochs")
    _check_epochs(stage2_epochs, "stage2_epochs")
    _check_compile_kwargs(compile_kwargs_stage1, "compile_kwargs_stage1")
    _check_compile_kwargs(compile_kwargs_stage2, "compile_kwargs_stage2")
    opt1 = compile_kwargs_stage1.get("optimizer")
    opt2 = compile_kwargs_stage2.get("optimizer")
    if isinstance(opt1, keras.optimizers.Optimizer) and opt1 is opt2:
        raise ValueError(
            "`compile_kwargs_stage1` and `compile_kwargs_stage2` must not share "
            "an optimizer instance: stage 1 builds it on the head variables "
            "only, so it cannot update the backbone in stage 2. Received the "
            f"same optimizer object twice: {opt1!r}. Create one per stage."
        )
    callbacks = list(callbacks or [])
    history1 = linear_probe_fit(
        model,
        train_ds,
        epochs=stage1_epochs,
        compile_kwargs=compile_kwargs_stage1,
        validation_data=validation_data,
        callbacks=callbacks,
        backbone=backbone,
        **fit_kwargs,
    )
    unfreeze_backbone(model, backbone)
    model.compile(**compile_kwargs_stage2)
    history2 = model.fit(
        train_ds,
        epochs=stage1_epochs + stage2_epochs,
        initial_epoch=stage1_epochs,
        validation_data=validation_data,
        callbacks=callbacks,
        **fit_kwargs,
    )
    return history1, history2


def unfreezing_blocks(backbone: keras.layers.Layer) -> list[list[keras.layers.Layer]]:
    """Split a backbone into the blocks gradual unfreezing thaws, top first.

    Blocks are `transformer_layer_{L-1}`, ..., `transformer_layer_0`, then one
    block of every other backbone layer with weights (the embeddings and
    their layer norm). `pooled_dense` is not in any block: it trains with the
    head from the start.

    Args:
        backbone: a backbone with sublayers named `transformer_layer_{i}`
            (e.g. `keras_hub.models.BertBackbone`).

    Example:
    >>> blocks = unfreezing_blocks(backbone)  # doctest: +SKIP
    >>> [b[0].name for b in blocks]  # doctest: +SKIP
    ['transformer_layer_2', 'transformer_layer_1', 'transformer_layer_0',
     'token_embedding']
    """
    transformer = {}
    embeddings = []
    for layer in getattr(backbone, "layers", []):
        match = _TRANSFORMER_LAYER.fullmatch(layer.name)
        if match:
            transformer[int(match.group(1))] = layer
        elif layer.weights and layer.name not in _TOP_LAYER_NAMES:
            embeddings.append(layer)
    if not transformer:
        raise ValueError(
            "`backbone` must have sublayers named `transformer_layer_{i}` for "
            f"gradual unfreezing. Received: backbone={backbone.name!r} with "
            f"layers {[l.name for l in getattr(backbone, 'layers', [])]}."
        )
    blocks = [[transformer[i]] for i in sorted(transformer, reverse=True)]
    if embeddings:
        blocks.append(embeddings)
    return blocks


class GradualUnfreezing(keras.callbacks.Callback):
    """Unfreeze the backbone block by block from the top (ULMFiT) in one fit.

    At the start only the head (everything outside the backbone, plus
    `pooled_dense`) trains, with `initial_blocks` blocks of
    `unfreezing_blocks(backbone)` thawed. One more block thaws every
    `every_n_epochs` epochs, or every `every_n_steps` optimizer steps if set:
    the top transformer layer first, the embeddings last. Compile the model
    as usual; the callback freezes the lower blocks when training begins and
    leaves the whole backbone trainable when it ends. `unfrozen_log` records
    the number of thawed blocks at the start of each epoch. The optimizer
    must be unbuilt or built on every variable (compile afresh after a
    frozen-backbone fit).

    Args:
        backbone: the backbone layer or its name in the model.
        every_n_epochs: epochs between two unfreezing steps.
        every_n_steps: if set, optimizer steps between two unfreezing steps
            (overrides `every_n_epochs`).
        initial_blocks: blocks already trainable at the start.

    Example:
    >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    >>> model.fit(ds, epochs=5, callbacks=[GradualUnfreezing()])  # doctest: +SKIP
    """

    def __init__(
        self,
        backbone: str | keras.layers.Layer = "backbone",
        every_n_epochs: int = 1,
        every_n_steps: int | None = None,
        initial_blocks: int = 0,
    ):
        super().__init__()
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(
                "`every_n_epochs` must be an int >= 1. Received: "
                f"every_n_epochs={every_n_epochs!r}"
            )
        if every_n_steps is not None and (
            not isinstance(every_n_steps, int) or every_n_steps < 1
        ):
            raise ValueError(
                "`every_n_steps` must be None or an int >= 1. Received: "
                f"every_n_steps={every_n_steps!r}"
            )
        if not isinstance(initial_blocks, int) or initial_blocks < 0:
            raise ValueError(
                "`initial_blocks` must be an int >= 0. Received: "
                f"initial_blocks={initial_blocks!r}"
            )
        self.backbone = backbone
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.initial_blocks = initial_blocks
        self.unfrozen_blocks = None
        self.unfrozen_log: list[int] = []
        self._blocks = None
        self._start_step = 0
        self._first_epoch = None

    def on_train_begin(self, logs=None):
        backbone = get_backbone(self.model, self.backbone)
        self._blocks = unfreezing_blocks(backbone)
        _set_trainable(backbone, True)
        self._build_optimizer(backbone)
        self._start_step = self._optimizer_step()
        self._first_epoch = None
        self.unfrozen_log = []
        self.unfrozen_blocks = None
        self._apply(self.initial_blocks)

    def on_epoch_begin(self, epoch, logs=None):
        # Count from this fit's first epoch (`initial_epoch` may be > 0).
        if self._first_epoch is None:
            self._first_epoch = epoch
        if self.every_n_steps is None:
            done = epoch - self._first_epoch
            self._apply(self.initial_blocks + done // self.every_n_epochs)
        self.unfrozen_log.append(self.unfrozen_blocks)

    def on_train_batch_begin(self, batch, logs=None):
        if self.every_n_steps is not None:
            steps = self._optimizer_step() - self._start_step
            self._apply(self.initial_blocks + steps // self.every_n_steps)

    def on_train_end(self, logs=None):
        _set_trainable(get_backbone(self.model, self.backbone), True)
        # Later fit/evaluate calls must not reuse the frozen trace.
        self.model.make_train_function(force=True)

    def _apply(self, count):
        count = min(count, len(self._blocks))
        if count == self.unfrozen_blocks:
            return
        for i, block in enumerate(self._blocks):
            for layer in block:
                _set_trainable(layer, i < count)
        self.unfrozen_blocks = count
        self.model.make_train_function(force=True)

    def _optimizer_step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def _build_optimizer(self, backbone):
        # Keras builds the optimizer once, on the variables trainable at that
        # moment (lazily, at the first step, unless distributed), and cannot
        # update variables it was not built with: build it on everything now.
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
            return
        known = {id(v) for v in compat.optimizer_variables_built_for(optimizer)}
        if not known:
            return
        missing = [
            v.path
            for block in self._blocks
            for layer in block
            for v in layer.trainable_weights
            if id(v) not in known
        ]
        if missing:
            raise ValueError(
                "GradualUnfreezing needs an optimizer built on every backbone "
                "variable, but this one was built while these were frozen: "
                f"{missing[:3]}{' ...' if len(missing) > 3 else ''}. Compile "
                "the model again (with a new optimizer) before `fit`."
            )


def _check_epochs(value, arg_name):
    if not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{arg_name}` must be an int >= 1. Received: {arg_name}={value!r}"
        )


def _check_compile_kwargs(value, arg_name):
    if not isinstance(value, dict):
        raise TypeError(
            f"`{arg_name}` must be a dict of `model.compile` arguments, e.g. "
            '{"optimizer": "adam", "loss": loss}. Received: '
            f"{arg_name}={value!r} of type {type(value).__name__}"
        )
