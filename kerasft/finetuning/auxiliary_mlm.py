"""Masked-LM as an auxiliary loss while fine-tuning (multitask learning vs plain transfer).

`MaskedLMAuxiliary` wraps a `TaskModel` into a `keras.Model` whose outputs
are the task heads' logits plus `"mlm"`: the same backbone, run a second time
on a masked copy of each batch's tokens, feeding keras-hub's `MaskedLMHead`
tied to the token embedding (as in `BertMaskedLM`). `dataset` adds the masked
copy, the masked ids (targets) and their weights to a fine-tuning dataset,
so one `fit` minimizes `task losses + aux_weight * masked-LM loss`. The
wrapped `task_model` shares every weight and is what to save and export.
"""

from __future__ import annotations

import keras
import keras_hub
import tensorflow as tf

from kerasft.pretraining.masking import masked_lm_example
from kerasft.pretraining.mlm import max_selections

MLM = "mlm"


class MaskedLMAuxiliary(keras.Model):
    """A task model plus a masked-LM output on masked copies of the same texts.

    Args:
        task_model: the `TaskModel` to fine-tune (shared, not copied).
        aux_weight: weight of the masked-LM loss next to the task losses
            (used by `loss_weights`).
        mask_rate: fraction of each text's pieces selected for prediction.

    Example:
    >>> aux = MaskedLMAuxiliary(model, aux_weight=0.5)  # doctest: +SKIP
    >>> aux.compile("adam", loss=aux.default_losses(),  # doctest: +SKIP
    ...             loss_weights=aux.loss_weights())
    >>> aux.fit(aux.dataset(train_ds), epochs=3)  # doctest: +SKIP
    >>> model.save("model.keras")  # the task model, trained  # doctest: +SKIP
    """

    def __init__(self, task_model, aux_weight: float = 1.0, mask_rate: float = 0.15, **kwargs):
        if task_model.preprocessor is None:
            raise ValueError(
                "`task_model` has no `preprocessor`, which the masking needs "
                "(vocabulary size and special token ids). Build it with "
                "`TaskModel(backbone, heads, preprocessor)`."
            )
        if aux_weight < 0:
            raise ValueError(f"`aux_weight` must be >= 0. Received: aux_weight={aux_weight!r}.")
        if not 0 < mask_rate < 1:
            raise ValueError(f"`mask_rate` must be in (0, 1). Received: mask_rate={mask_rate!r}.")
        if MLM in [h.name for h in task_model.heads]:
            raise ValueError(
                f"`task_model` already has a head named {MLM!r}, the auxiliary "
                "output's name. Rename that head."
            )
        backbone = task_model.backbone
        mlm_head = keras_hub.layers.MaskedLMHead(
            vocabulary_size=backbone.vocabulary_size,
            token_embedding=backbone.token_embedding,
            intermediate_activation="gelu",
            name="auxiliary_mlm_head",
        )
        task_inputs = {
            name: keras.Input(shape=(None,), dtype=t.dtype, name=name)
            for name, t in task_model.input.items()
        }
        masked_ids = keras.Input(shape=(None,), dtype="int32", name="masked_token_ids")
        positions = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        outputs = dict(task_model(task_inputs))
        sequence = backbone({**task_inputs, "token_ids": masked_ids})["sequence_output"]
        outputs[MLM] = mlm_head(sequence, positions)
        super().__init__(
            inputs={**task_inputs, "masked_token_ids": masked_ids, "mask_positions": positions},
            outputs=outputs,
            **kwargs,
        )
        self.task_model = task_model
        self.mlm_head = mlm_head
        self.aux_weight = float(aux_weight)
        self.mask_rate = float(mask_rate)

    def default_losses(self) -> dict:
        """The task heads' losses plus the masked-LM cross-entropy (mean over masked pieces)."""
        return {
            **self.task_model.default_losses(),
            MLM: keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            ),
        }

    def loss_weights(self) -> dict:
        """1 for every task head, `aux_weight` for the masked-LM loss."""
        return {**{h.name: 1.0 for h in self.task_model.heads}, MLM: self.aux_weight}

    def default_metrics(self) -> dict:
        return self.task_model.default_metrics()

    def dataset(self, ds: tf.data.Dataset, *, seed: int | None = None) -> tf.data.Dataset:
        """Add a dynamically masked copy of every batch, with its targets and weights.

        Args:
            ds: a head's `make_dataset(...)` output, or a `multitask_dataset`.
            seed: seed of the masking.
        """
        from kerasft.finetuning.multitask import _fill_other_heads

        spec = ds.element_spec
        if len(spec) == 2:
            names = list(spec[1])
            if len(names) != 1:
                raise ValueError(
                    "A two-part `(features, targets)` dataset must hold one "
                    f"head's targets. Received targets for {names}; use "
                    "`multitask_dataset` to mix heads."
                )
            ds = _fill_other_heads(self.task_model, names[0], ds)
        pre = self.task_model.preprocessor
        special = {pre.pad_token_id, pre.cls_token_id, pre.sep_token_id, pre.mask_token_id}
        options = dict(
            vocabulary_size=pre.vocabulary_size,
            mask_token_id=pre.mask_token_id,
            unselectable_token_ids=sorted(special),
            max_selections=max_selections(pre.sequence_length, self.mask_rate),
            mask_selection_rate=self.mask_rate,
            seed=seed,
        )

        def add_mask(features, targets, weights):
            masked, ids, mask_weights = masked_lm_example(features, **options)
            features = {
                **features,
                "masked_token_ids": masked["token_ids"],
                "mask_positions": tf.cast(masked["mask_positions"], tf.int32),
            }
            targets = {**targets, MLM: tf.cast(ids, tf.int32)}
            weights = {**weights, MLM: tf.cast(mask_weights, tf.float32)}
            return features, targets, weights

        return ds.map(add_mask)
