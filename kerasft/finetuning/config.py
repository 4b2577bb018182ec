"""What a fine-tuning run is: the recipe the experiment shares, and the full config.

`FinetuneRecipe` holds the fields every regime of an experiment shares (the
backbone size, sequence length and optimisation recipe); `FinetuneConfig`
adds the data, starting point, strategy, loss and schedule of one run. Each
field is declared once, with its help text, and `kerasft-finetune` builds
its flags from them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kerasft.backbone import BackboneSize, check_choices, option
from kerasft.head.classification import CLASSIFIERS
from kerasft.optim.optimizers import SCHEDULES
from kerasft.precision import PRECISIONS

STRATEGIES = ("full", "linear_probe", "two_stage", "gradual_unfreezing")
LOSSES = ("cross_entropy", "class_balanced", "inverse_frequency", "focal")


@dataclasses.dataclass
class FinetuneRecipe(BackboneSize):
    """How a head is fine-tuned: the part of a run that an experiment shares.

    `FinetuneConfig` adds the data, where the backbone comes from and the
    strategy; `kerasft.experiment.ExperimentConfig` inherits the recipe (with
    its own defaults) and fine-tunes every regime with it.

    Args:
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim:
            vocabulary and size of a from-scratch backbone (`BackboneSize`).
        head: a registered head name (`kerasft.available_heads()`).
        sequence_length: maximum tokens per text, special tokens included.
        lowercase: from-scratch tokenizer casing.
        epochs: maximum epochs, all stages included.
        batch_size: examples per step.
        learning_rate: peak learning rate (of the stage that trains the
            backbone; of the head for `linear_probe`).
        warmup_ratio: fraction of total steps spent warming up (`linear`,
            `cosine`, `constant`; `slanted_triangular` rises for 10%).
        weight_decay: AdamW weight decay.
        dropout: head dropout.
        pooling: head pooling (`cls` or `mean`) for classification heads.
        classifier: single-label heads' output layer: `linear` or
            `prototypical` (distance to a learned class prototype).
        patience: early-stopping patience in epochs.
        precision: `float32` or `mixed_bfloat16` (`kerasft.precision`).
        monitor: validation metric to early-stop on: `loss`, a compiled
            metric (`accuracy`) or any number in the head's own report
            (`macro_f1` for classification, `f1` for entities).
    """

    head: str = option("sentiment", "Registered head name (see --list_heads).")
    sequence_length: int = option(128, "Maximum tokens per text, special tokens included.")
    lowercase: bool = option(True, "Lowercase (from-scratch tokenizer only).")
    epochs: int = option(5, "Maximum epochs.")
    batch_size: int = option(32, "Examples per step.")
    learning_rate: float = option(
        1e-4, "Peak learning rate (of the head for --strategy=linear_probe)."
    )
    warmup_ratio: float = option(
        0.1, "Fraction of steps spent warming up (linear, cosine, constant)."
    )
    weight_decay: float = option(0.01, "AdamW weight decay (not on biases and LayerNorms).")
    dropout: float = option(0.1, "Head dropout.")
    pooling: str = option("cls", "Classification pooling: cls (pooler) or mean (token average).")
    classifier: str = option(
        "linear",
        "Single-label output layer: linear, or prototypical (a class scores by "
        "the distance to a learned prototype; for small labelled sets).",
        choices=CLASSIFIERS,
    )
    patience: int = option(2, "Early-stopping patience in epochs.")
    monitor: str = option(
        "accuracy",
        "Validation metric for early stopping (best weights restored): loss, "
        "accuracy, or any number of the head's report, e.g. macro_f1 "
        "(classification) or f1 (entities), computed each epoch end.",
    )
    precision: str = option(
        "float32",
        "Compute precision: float32, or mixed_bfloat16 (bfloat16 math, float32 "
        "weights; exports keep float32 outputs).",
        choices=PRECISIONS,
    )


@dataclasses.dataclass
class FinetuneConfig(FinetuneRecipe):
    """One fine-tuning run, flat and JSON-serializable: a `FinetuneRecipe` and these.

    Args:
        train: the train file, in the head's format.
        validation: the validation file (early stopping).
        test: optional test file, evaluated once at the end.
        backbone: a backbone directory (`kerasft-pretrain` output, keras-hub
            preset or Hugging Face BERT); empty means a new random backbone
            with a vocabulary trained on the train text.
        init_model: intermediate fine-tuning: a fine-tuned `.keras` model (or
            the run directory holding `model.keras`) whose backbone and
            tokenizer to start from; its heads are dropped. Excludes
            `backbone`.
        schedule: `linear`, `cosine`, `slanted_triangular` or `constant`.
        layerwise_decay: per-layer learning-rate factor in (0, 1] from the
            top transformer layer down; 1 disables it.
        strategy: `full` (everything trains), `linear_probe` (backbone
            frozen throughout), `two_stage` (LP-FT: `stage1_epochs` head-only,
            then everything) or `gradual_unfreezing` (ULMFiT: one more
            backbone block every `unfreeze_every_epochs`, top first).
        stage1_epochs: head-only epochs of `two_stage` (< `epochs`).
        stage1_learning_rate: constant learning rate of the `two_stage` head
            stage.
        stage1_loss: loss of the `two_stage` head stage; empty means `loss`.
        unfreeze_every_epochs: epochs between two `gradual_unfreezing` steps.
        loss: `cross_entropy`, `class_balanced` (effective number of
            samples, Cui et al. 2019), `inverse_frequency` or `focal`.
        class_balance_beta: the effective-number beta in [0, 1).
        focal_gamma: the focal-loss focusing parameter (>= 0).
        dp_epsilon: target epsilon of differentially private fine-tuning
            (`kerasft.finetuning.privacy`); 0 turns DP off.
        dp_delta: DP delta, below 1/N; 0 picks the largest power of ten
            <= 1/(10 N).
        dp_clip_norm: per-example gradient L2 bound C of DP-SGD.
        seed: weights, shuffling and dropout seed (not DP's noise and
            sampling, which are seeded from `os.urandom`).
        jit_compile: XLA (off: measured slower on 2-core CPUs).

    Example:
    >>> config = FinetuneConfig(train="train.jsonl", validation="val.jsonl",
    ...                         strategy="two_stage", stage1_epochs=1,
    ...                         stage1_loss="class_balanced", monitor="macro_f1")
    """

    train: str = option("", "Train split file, in the head's format (JSONL, CoNLL, ...).")
    validation: str = option("", "Validation split file (early stopping).")
    test: str = option("", "Optional test split file, evaluated at the end.")
    backbone: str = option(
        "",
        "Backbone directory (kerasft-pretrain output, keras-hub preset or Hugging "
        "Face BERT). Empty: new random backbone, vocabulary from train.",
    )
    init_model: str = option(
        "",
        "Intermediate fine-tuning: a fine-tuned .keras model or kerasft-finetune run "
        "directory whose backbone and tokenizer to start from (its heads are "
        "dropped). Excludes --backbone.",
    )
    schedule: str = option(
        "linear",
        "Learning-rate schedule: linear (warmup, linear decay), cosine (warmup, "
        "cosine decay), slanted_triangular (ULMFiT, 10% rise) or constant.",
    )
    layerwise_decay: float = option(
        1.0,
        "Layer-wise learning-rate decay in (0, 1]: the top transformer layer gets "
        "lr*d, each lower one d times less, embeddings least. 1 disables it.",
    )
    strategy: str = option(
        "full",
        "full (everything trains), linear_probe (backbone frozen), two_stage (LP-FT: "
        "--stage1_epochs head-only, then everything) or gradual_unfreezing (ULMFiT: "
        "one more backbone block every --unfreeze_every_epochs, top first).",
    )
    stage1_epochs: int = option(
        1, "Head-only epochs of --strategy=two_stage (counted in --epochs)."
    )
    stage1_learning_rate: float = option(
        1e-3, "Constant learning rate of the two_stage head-only stage."
    )
    stage1_loss: str = option(
        "", "Loss of the two_stage head-only stage (e.g. class_balanced); empty: --loss."
    )
    unfreeze_every_epochs: int = option(1, "Epochs between two gradual_unfreezing steps.")
    loss: str = option(
        "cross_entropy",
        "cross_entropy, class_balanced (effective number of samples, Cui et al. "
        "2019), inverse_frequency or focal. Class weights come from the train "
        "counts and are recorded in config.json.",
    )
    class_balance_beta: float = option(
        0.999,
        "Effective-number beta in [0, 1) for class_balanced (near 1: close to "
        "inverse frequency).",
    )
    focal_gamma: float = option(2.0, "Focal-loss focusing parameter (>= 0; 0 is cross-entropy).")
    dp_epsilon: float = option(
        0.0,
        "Differentially private fine-tuning (DP-SGD) to this target epsilon: "
        "per-example clipping, Gaussian noise calibrated by the dp-accounting RDP "
        "accountant for the planned steps, Poisson-sampled batches. 0: off.",
    )
    dp_delta: float = option(
        0.0, "DP delta, < 1/N. 0: the largest power of ten <= 1/(10 N) (1e-5 for 8,528)."
    )
    dp_clip_norm: float = option(
        1.0, "DP per-example gradient L2 bound over all trainable variables."
    )
    seed: int = 0
    jit_compile: bool = option(False, "Compile with XLA (slower on small CPUs).")

    def __post_init__(self):
        check_choices(self)
        for field in ("train", "validation"):
            if not getattr(self, field):
                raise ValueError(
                    f"`{field}` is required: the path of the {field} split "
                    f"(e.g. --{field}=../shared/data/sentiment_rt_polarity/"
                    f"{field}.jsonl)."
                )
        for field in ("epochs", "batch_size", "sequence_length",
                      "stage1_epochs", "unfreeze_every_epochs"):
            if getattr(self, field) <= 0:
                raise ValueError(
                    f"`{field}` must be positive. Received: "
                    f"{field}={getattr(self, field)!r}."
                )
        check_choice("strategy", self.strategy, STRATEGIES)
        check_choice("loss", self.loss, LOSSES)
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.stage1_loss:
            check_choice("stage1_loss", self.stage1_loss, LOSSES)
        if self.strategy == "two_stage" and self.stage1_epochs >= self.epochs:
            raise ValueError(
                "`stage1_epochs` must be smaller than `epochs` (which counts "
                "both stages) for strategy='two_stage'. Received: "
                f"stage1_epochs={self.stage1_epochs}, epochs={self.epochs}. "
                "Raise `epochs` or lower `stage1_epochs`."
            )
        for name, ok, expected in (
            ("layerwise_decay", 0 < self.layerwise_decay <= 1, "in (0, 1] (1 disables it)"),
            ("class_balance_beta", 0 <= self.class_balance_beta < 1, "in [0, 1)"),
            ("focal_gamma", self.focal_gamma >= 0, ">= 0"),
            ("dp_epsilon", self.dp_epsilon >= 0, ">= 0 (0 turns DP off)"),
            ("dp_delta", 0 <= self.dp_delta < 1, "in [0, 1) (0: the default)"),
            ("dp_clip_norm", self.dp_clip_norm > 0, "> 0"),
        ):
            if not ok:
                value = getattr(self, name)
                raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}.")
        if self.backbone and self.init_model:
            raise ValueError(
                "Pass only one of `backbone` and `init_model` (both say where "
                f"the backbone comes from). Received: backbone={self.backbone!r}, "
                f"init_model={self.init_model!r}."
            )
        if not self.monitor:
            raise ValueError(
                "`monitor` must name a validation metric (e.g. accuracy, "
                "macro_f1, loss). Received: monitor=''."
            )


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """Raise a clear error unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}."
        )
