"""Masked-LM pretraining: its config, input pipeline, model and optimizer.

Text -> tokenize into words of pieces -> `pack_dataset` (several documents a
row, or one) -> `masked_lm_example` (dynamic masking, 80/10/10, never
special tokens or padding, optionally whole words) ->
`keras_hub.models.BertMaskedLM` (its MLM head tied to the token embedding).
ELECTRA (`kerasft.pretraining.electra`) reads the very same batches; the
training loop with exact resume is `kerasft.pretraining.loop`.

Resume is exact on the data side: the text order is a seeded shuffle of a
freshly built pipeline, and batch `i`'s masks are drawn with stateless ops
seeded by `(seed, i)`, so a resumed run skips the `step` batches already
trained on and sees the very batches, and masks, an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from kerasft.backbone import check_choices, option
from kerasft.precision import PRECISIONS
from kerasft.optim.optimizers import NO_DECAY_NAMES
from kerasft.optim.schedules import WarmupLinearDecay
from kerasft.pretraining.masking import masked_lm_example
from kerasft.pretraining.packing import pack_dataset

# Variables whose names contain these are never weight-decayed (BERT recipe);
# Keras names LayerNorm scales/offsets `gamma`/`beta`.
PACKING_MODES = ("pack", "pad")
OBJECTIVES = ("mlm", "electra")
MASKED_LM_HEAD_WEIGHTS = "masked_lm_head.npz"
# Documents tokenized together before packing: big enough to amortize the
# tokenizer call, small enough to keep the first step quick.
_TOKENIZE_BATCH = 256


@dataclasses.dataclass
class PretrainConfig:
    """Hyper-parameters of one masked-LM pretraining run.

    Args:
        steps: optimizer steps in total (the budget).
        batch_size: sequences per step.
        learning_rate: peak learning rate (after warmup).
        warmup_steps: linear warmup; then linear decay to 0 at `decay_steps`.
        weight_decay: AdamW decay (not applied to biases and LayerNorms).
        global_clipnorm: clip the global gradient norm to this.
        mask_rate: fraction of real tokens selected for prediction.
        checkpoint_every: steps between checkpoints (and progress epochs).
        max_seconds: optional wall-clock budget; training stops at the first
            checkpoint after it (resume to continue).
        seed: seeds weights, shuffling, masking and dropout.
        jit_compile: XLA; off by default (measured slower on 2-core CPUs).
        precision: `float32` or `mixed_bfloat16` (`kerasft.precision`).
        packing: `"pack"` (documents concatenated into full rows) or `"pad"`
            (one document a row, padded).
        whole_word_masking: mask all pieces of a word or none.
        decay_steps: where the linear decay reaches 0; defaults to `steps`.
            Set it to the final budget when a run will be extended with
            `resume` and a larger `steps`, so the learning rate never jumps.
        validation_mask_rate: masking rate of the held-out evaluation, fixed
            apart from `mask_rate` so runs with different training rates
            report comparable held-out loss and accuracy.
        objective: `"mlm"` (masked-LM, keras-hub's `BertMaskedLM`) or
            `"electra"` (replaced-token detection: a small generator proposes
            tokens, the backbone learns to spot them; see
            `kerasft.pretraining.electra`).
        rtd_weight: ELECTRA's weight of the replaced-token loss (lambda).
        generator_fraction: ELECTRA's generator width as a fraction of the
            backbone's hidden size.
        electra_mlm_fraction: ELECTRA's masked-LM warmup: the share of the
            planned steps in which the backbone and the generator learn
            masked-LM before replaced-token detection starts (see
            `kerasft.pretraining.electra`); 0 starts with detection.
        short_sequence_length: rows of this many tokens for the first
            `short_sequence_fraction` of the steps (sequence-length warmup,
            see `kerasft.pretraining.loop.training_phases`); 0 turns it off.
            On by default: without it the demo backbone stayed at word
            frequencies (held-out accuracy 0.12) for its whole budget.
        short_sequence_fraction: the share of `steps` trained on short rows.

    Example:
    >>> config = PretrainConfig(steps=1500, batch_size=64, packing="pack")
    """

    steps: int = option(1000, "Optimizer steps (the budget).")
    batch_size: int = option(64, "Sequences per step.")
    learning_rate: float = option(2e-3, "Peak learning rate.")
    warmup_steps: int = option(100, "Linear warmup steps.")
    weight_decay: float = option(0.01, "AdamW weight decay (not on LayerNorm/bias).")
    global_clipnorm: float = 1.0
    mask_rate: float = option(0.15, "Fraction of tokens to predict.")
    checkpoint_every: int = option(100, "Steps between checkpoints.")
    max_seconds: float | None = option(None, "Optional wall-clock budget (0: none).")
    seed: int = 0
    jit_compile: bool = option(False, "Compile steps with XLA (slower on small CPUs).")
    precision: str = option(
        "float32",
        "Compute precision: float32, or mixed_bfloat16 (bfloat16 math, float32 "
        "weights and losses; the saved backbone loads in either).",
        choices=PRECISIONS,
    )
    packing: str = option(
        "pack", "pack: concatenate documents into full rows; pad: one document a row.",
        choices=PACKING_MODES,
    )
    whole_word_masking: bool = option(False, "Mask all pieces of a word or none.")
    decay_steps: int | None = option(
        None,
        "Step where the linear decay reaches 0 (0: --steps). Set it to the final "
        "budget when a run will be extended with --resume and a larger --steps.",
    )
    validation_mask_rate: float = 0.15
    objective: str = option(
        "mlm",
        "mlm: masked-LM; electra: replaced-token detection with a small generator "
        "(the backbone saved is the discriminator).",
        choices=OBJECTIVES,
    )
    rtd_weight: float = option(50.0, "ELECTRA: weight of the replaced-token loss.")
    generator_fraction: float = option(
        0.25, "ELECTRA: generator width as a fraction of the backbone's hidden size."
    )
    electra_mlm_fraction: float = option(
        0.5,
        "ELECTRA: share of --steps in which the backbone learns masked-LM before "
        "replaced-token detection starts (from random weights the discriminator "
        "stays at 'nothing replaced' for thousands of steps); 0: detection from step 0.",
    )
    short_sequence_length: int = option(
        16,
        "Sequence-length warmup: rows of this many tokens (same tokens per step) "
        "for the first --short_sequence_fraction of the steps; 0: off.",
    )
    short_sequence_fraction: float = option(0.5, "Share of --steps trained on short rows.")

    def __post_init__(self):
        check_choices(self)
        for field in ("steps", "batch_size", "checkpoint_every"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"`{field}` must be a positive int. Received: "
                    f"{field}={value!r}."
                )
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(
                "`warmup_steps` must be an int >= 0. Received: "
                f"warmup_steps={self.warmup_steps!r}."
            )
        if not 0.0 < self.mask_rate < 1.0:
            raise ValueError(
                f"`mask_rate` must be in (0, 1). Received: mask_rate={self.mask_rate}."
            )
        if not 0.0 <= self.electra_mlm_fraction < 1.0:
            raise ValueError(
                "`electra_mlm_fraction` must be in [0, 1): some steps must train "
                "replaced-token detection. Received: "
                f"electra_mlm_fraction={self.electra_mlm_fraction}."
            )
        if self.decay_steps is not None and (
            not isinstance(self.decay_steps, int)
            or self.decay_steps <= self.warmup_steps
        ):
            raise ValueError(
                "`decay_steps` must be an int larger than `warmup_steps` (or "
                f"None for `steps`). Received: decay_steps={self.decay_steps!r}, "
                f"warmup_steps={self.warmup_steps}."
            )

    @property
    def schedule_steps(self) -> int:
        """The step at which the learning rate reaches 0."""
        return self.decay_steps or max(self.steps, self.warmup_steps + 1)


def max_selections(sequence_length: int, mask_rate: float) -> int:
    """Width of the mask outputs: the most pieces masked in one row."""
    return max(1, math.ceil(sequence_length * mask_rate))


def mlm_dataset(
    texts: tf.data.Dataset,
    preprocessor,
    *,
    batch_size: int,
    mask_rate: float = 0.15,
    packing: str = "pack",
    whole_word: bool = False,
    seed: int = 0,
    repeat: bool = True,
    shuffle_buffer: int = 10_000,
    start_batch: int = 0,
) -> tf.data.Dataset:
    """`(x, y, sample_weight)` batches for `BertMaskedLM.fit` from raw text.

    Masks are drawn when a batch is produced (dynamic masking, as in
    RoBERTa), from stateless ops seeded by `(seed, batch_index)`.

    Args:
        texts: a dataset of scalar strings.
        preprocessor: a `TextPreprocessor` or `SentencePiecePreprocessor`
            (its `tokenize_words`, special ids and `sequence_length`).
        batch_size: rows per batch.
        mask_rate: fraction of real pieces selected for prediction.
        packing: `"pack"` or `"pad"` (see `kerasft.pretraining.packing`).
        whole_word: whole-word masking.
        seed: seeds the shuffle and the masks.
        repeat: cycle forever (training); `False` gives one pass.
        shuffle_buffer: documents in the shuffle buffer (0: keep order).
        start_batch: skip this many batches first (resume at this step).

    Example:
    >>> ds = mlm_dataset(texts, preprocessor, batch_size=32)  # doctest: +SKIP
    """
    if packing not in PACKING_MODES:
        raise ValueError(
            f"`packing` must be one of {PACKING_MODES}. Received: packing={packing!r}."
        )
    ds = texts
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    docs = ds.batch(_TOKENIZE_BATCH).map(
        preprocessor.tokenize_words, num_parallel_calls=tf.data.AUTOTUNE
    )
    rows = pack_dataset(
        docs,
        sequence_length=preprocessor.sequence_length,
        batch_size=batch_size,
        cls_token_id=preprocessor.cls_token_id,
        sep_token_id=preprocessor.sep_token_id,
        pad_token_id=preprocessor.pad_token_id,
        mode=packing,
        drop_remainder=repeat,
    )
    if start_batch:
        rows = rows.skip(start_batch)
    mask = functools.partial(
        masked_lm_example,
        vocabulary_size=preprocessor.vocabulary_size,
        mask_token_id=preprocessor.mask_token_id,
        unselectable_token_ids=sorted(
            {
                preprocessor.pad_token_id,
                preprocessor.cls_token_id,
                preprocessor.sep_token_id,
                preprocessor.mask_token_id,
            }
        ),
        max_selections=max_selections(preprocessor.sequence_length, mask_rate),
        mask_selection_rate=mask_rate,
        whole_word=whole_word,
    )

    @tf.autograph.experimental.do_not_convert
    def mask_batch(index, features):
        return mask(features, seed=tf.stack([tf.cast(seed, tf.int64), index]))

    return (
        rows.enumerate(start=start_batch)
        .map(mask_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def make_masked_lm(backbone: keras.Model) -> keras_hub.models.BertMaskedLM:
    """The backbone plus keras-hub's tied masked-LM head."""
    return keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)


def make_pretrain_optimizer(config: PretrainConfig) -> keras.optimizers.AdamW:
    """AdamW with warmup + linear decay, global clipping, no decay on LN/bias."""
    schedule = WarmupLinearDecay(
        config.learning_rate,
        total_steps=config.schedule_steps,
        warmup_steps=config.warmup_steps,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=config.weight_decay,
        global_clipnorm=config.global_clipnorm,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
    return optimizer


def compile_masked_lm(masked_lm: keras.Model, config: PretrainConfig) -> None:
    """Compile with the pretraining optimizer, masked loss and accuracy."""
    masked_lm.compile(
        optimizer=make_pretrain_optimizer(config),
        # Averaged over real mask positions only, so the loss is the true
        # per-token cross-entropy (comparable across runs and to ln(vocab)).
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=config.jit_compile,
    )


def evaluate_mlm(
    masked_lm: keras.Model, validation: tf.data.Dataset
) -> dict[str, float]:
    """Held-out masked-LM loss and accuracy on a fixed (cached) masking."""
    results = masked_lm.evaluate(validation, verbose=0, return_dict=True)
    return {"loss": float(results["loss"]), "accuracy": float(results["accuracy"])}


def save_masked_lm_head(masked_lm: keras.Model, path: str) -> None:
    """Save the MLM head's own weights (the embedding is the backbone's)."""
    head = masked_lm.masked_lm_head
    own = [v for v in head.weights if v.path.startswith(head.name + "/")]
    np.savez(path, **{v.path: v.numpy() for v in own})


def load_masked_lm_head(target: keras.Model | keras.layers.Layer, path: str) -> None:
    """Load weights written by `save_masked_lm_head` into a masked-LM head.

    Args:
        target: a `BertMaskedLM` (its `masked_lm_head` is loaded) or a
            `MaskedLMHead` layer itself, e.g. `MaskedLMAuxiliary.mlm_head`.
        path: the `.npz` file `save_masked_lm_head` wrote.

    Example:
    >>> load_masked_lm_head(aux.mlm_head, "runs/pre/masked_lm_head.npz")  # doctest: +SKIP
    """
    # Weights are matched by path below the head's own name, so a head
    # named differently (the auxiliary one) loads the same file.
    head = getattr(target, "masked_lm_head", target)
    with np.load(path) as saved:
        by_suffix = {k.split("/", 1)[1]: saved[k] for k in saved.files}
    own = [v for v in head.weights if v.path.startswith(head.name + "/")]
    for variable in own:
        key = variable.path.split("/", 1)[1]
        if key not in by_suffix:
            raise ValueError(
                f"{path} has no weight `{key}` for the masked-LM head (it has "
                f"{sorted(by_suffix)}). Was it written by a different model?"
            )
        variable.assign(by_suffix[key])
