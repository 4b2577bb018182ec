"""Fine-tune one head on a labelled dataset, the library call behind `kerasft-finetune`.

Everything is plain Keras: a `TaskModel`, `compile`, `fit` with early
stopping on a validation metric (best weights restored), then the head's own
evaluation on the test split. A fine-tuning strategy (full, linear probing,
two-stage LP-FT, gradual unfreezing), loss (cross-entropy, class-balanced,
focal), learning-rate schedule and layer-wise decay are chosen by
`FinetuneConfig` fields and built from the pieces in `kerasft.finetuning`.
The run directory gets `config.json` (every field, so a result can be traced
to its strategy and hyper-parameters), `vocab.txt`, `model.keras`,
`checkpoints/`, `history.json`, `metrics.json` and the head's reports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence

import keras
import tensorflow as tf
from absl import logging

from kerasft.backbone import BackboneSize, option
from kerasft.evaluation.predict import evaluate_model, predict_split
from kerasft.finetuning.callbacks import HeadMetricsCallback
from kerasft.finetuning.starting_point import build_preprocessor_and_backbone
from kerasft.finetuning.freezing import (
    GradualUnfreezing,
    linear_probe_fit,
    two_stage_fit,
    unfreeze_backbone,
)
from kerasft.optim.layerwise import layerwise_lr_multipliers
from kerasft.optim.losses import (
    SparseFocalLoss,
    WeightedSparseCategoricalCrossentropy,
    class_weights,
)
from kerasft.optim.optimizers import SCHEDULES, make_optimizer
from kerasft.registry import get_head
from kerasft.task import TaskModel
from kerasft.tokenizers import save_vocabulary

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
        patience: early-stopping patience in epochs.
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
    patience: int = option(2, "Early-stopping patience in epochs.")
    monitor: str = option(
        "accuracy",
        "Validation metric for early stopping (best weights restored): loss, "
        "accuracy, or any number of the head's report, e.g. macro_f1 "
        "(classification) or f1 (entities), computed each epoch end.",
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
        seed: weights, shuffling and dropout seed.
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
    seed: int = 0
    jit_compile: bool = option(False, "Compile with XLA (slower on small CPUs).")

    def __post_init__(self):
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
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("schedule", self.schedule, SCHEDULES)
        if self.stage1_loss:
            _check_choice("stage1_loss", self.stage1_loss, LOSSES)
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


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}."
        )


def _head_kwargs(head_cls, config: FinetuneConfig) -> dict:
    unknown = [o for o in head_cls.trainer_options if not hasattr(config, o)]
    if unknown:
        raise ValueError(
            f"Head {head_cls.__name__} declares `trainer_options` {unknown} that "
            "are not fine-tuning settings. Expected names of `FinetuneConfig` "
            "fields (e.g. 'dropout', 'pooling')."
        )
    return {option: getattr(config, option) for option in head_cls.trainer_options}


def make_loss(
    name: str,
    head,
    train_examples: Sequence = (),
    *,
    class_balance_beta: float = 0.999,
    focal_gamma: float = 2.0,
) -> tuple[keras.losses.Loss, list[float] | None]:
    """A head's loss by name, with class weights from the train counts.

    Args:
        name: `cross_entropy` (the head's default), `class_balanced`,
            `inverse_frequency` or `focal`.
        head: the head; the weighted losses need its `class_counts`.
        train_examples: the train examples the class counts come from.
        class_balance_beta: the effective-number beta of `class_balanced`.
        focal_gamma: the focusing parameter of `focal`.

    Returns:
        `(loss, weights)`, weights being the per-class list used or None.

    Example:
    >>> loss, weights = make_loss("class_balanced", head, train)  # doctest: +SKIP
    """
    _check_choice("loss", name, LOSSES)
    if name == "cross_entropy":
        return head.loss(), None
    if name == "focal":
        return SparseFocalLoss(gamma=focal_gamma), None
    counts = head.class_counts(train_examples)
    if counts is None:
        raise ValueError(
            f"loss={name!r} weights classes by their train counts, but head "
            f"{head.name!r} ({type(head).__name__}) has no `class_counts`. Use "
            "loss='cross_entropy' or 'focal', or add `class_counts` to the head."
        )
    method = "effective_number" if name == "class_balanced" else "inverse_frequency"
    weights = class_weights(counts, method=method, beta=class_balance_beta)
    return WeightedSparseCategoricalCrossentropy(weights), [float(w) for w in weights]


def _keras_logged(monitor: str, head) -> bool:
    # `loss` and the head's compiled metrics come out of `fit` itself.
    return monitor == "loss" or monitor in {m.name for m in head.metrics_list()}


def _merge_histories(histories: Sequence[keras.callbacks.History]) -> dict:
    merged: dict[str, list] = {}
    for stage, history in enumerate(histories, start=1):
        n = len(history.history.get("loss", []))
        for key, values in history.history.items():
            merged.setdefault(key, []).extend(float(v) for v in values)
        merged.setdefault("stage", []).extend([stage] * n)
    return merged


def finetune(config: FinetuneConfig, run_dir: str, *, verbose: int | str = "auto") -> dict:
    """Fine-tune `config.head` with `config.strategy` and write the run directory.

    Args:
        config: a `FinetuneConfig`.
        run_dir: output directory (created).
        verbose: Keras `fit` verbosity.

    Returns:
        The metrics written to `run_dir/metrics.json`.

    Example:
    >>> metrics = finetune(FinetuneConfig(train="t.jsonl", validation="v.jsonl",  # doctest: +SKIP
    ...                                   strategy="gradual_unfreezing"), "runs/gu")
    """
    os.makedirs(run_dir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    head_cls = get_head(config.head)
    train = head_cls.read_examples(config.train)
    validation = head_cls.read_examples(config.validation)
    test = head_cls.read_examples(config.test) if config.test else None
    labels = head_cls.labels_from_examples(train)

    distribution = tf.distribute.get_strategy()
    with distribution.scope():
        backbone, preprocessor = build_preprocessor_and_backbone(
            config, [head_cls.example_text(e) for e in train]
        )
        head = head_cls(labels=labels, **_head_kwargs(head_cls, config))
        model = TaskModel(backbone, [head], preprocessor)
    # Validate every split's labels before spending time on training.
    head.encode(validation)
    if test is not None:
        head.encode(test)

    train_ds = head.make_dataset(
        train, preprocessor, batch_size=config.batch_size, shuffle=True, seed=config.seed
    )
    val_ds = head.make_dataset(validation, preprocessor, batch_size=config.batch_size)
    steps_per_epoch = int(train_ds.cardinality())
    two_stage = config.strategy == "two_stage"
    main_epochs = config.epochs - config.stage1_epochs if two_stage else config.epochs
    total_steps = steps_per_epoch * main_epochs
    num_layers = int(backbone.num_layers)
    decay = config.layerwise_decay if config.layerwise_decay < 1 else None

    with distribution.scope():
        loss, weights = make_loss(
            config.loss, head, train,
            class_balance_beta=config.class_balance_beta,
            focal_gamma=config.focal_gamma,
        )
        compile_kwargs = {
            "optimizer": make_optimizer(
                learning_rate=config.learning_rate,
                weight_decay=config.weight_decay,
                schedule=config.schedule,
                # The slanted triangular schedule has its own rise (cut_frac).
                warmup_steps=0 if config.schedule == "slanted_triangular"
                else int(config.warmup_ratio * total_steps),
                total_steps=total_steps,
                layerwise_decay=decay,
                num_layers=num_layers,
            ),
            "loss": {head.name: loss},
            "metrics": model.default_metrics(),
            "jit_compile": config.jit_compile,
        }
        stage1_weights = None
        if two_stage:
            stage1_loss, stage1_weights = make_loss(
                config.stage1_loss or config.loss, head, train,
                class_balance_beta=config.class_balance_beta,
                focal_gamma=config.focal_gamma,
            )
            # Head-only stage: a fresh optimizer (stage 1 builds it on the
            # head variables only) at a constant, higher rate.
            stage1_compile_kwargs = {
                **compile_kwargs,
                "optimizer": make_optimizer(
                    learning_rate=config.stage1_learning_rate,
                    weight_decay=config.weight_decay,
                    schedule="constant",
                ),
                "loss": {head.name: stage1_loss},
            }

    save_vocabulary(preprocessor.vocabulary, os.path.join(run_dir, "vocab.txt"))
    resolved = {
        **dataclasses.asdict(config),
        "labels": labels,
        "vocabulary_size_actual": preprocessor.vocabulary_size,
        "backbone_config": backbone.get_config(),
        "distribution_strategy": type(distribution).__name__,
        "steps_per_epoch": steps_per_epoch,
        "class_weights": weights,
        "stage1_class_weights": stage1_weights,
        "layerwise_lr_multipliers": (
            layerwise_lr_multipliers(num_layers, decay) if decay else None
        ),
    }
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(resolved, f, indent=2, default=str)

    monitor = f"val_{config.monitor}"
    callbacks: list[keras.callbacks.Callback] = []
    if not _keras_logged(config.monitor, head):
        callbacks.append(HeadMetricsCallback(head.name, validation, monitor=monitor))
    unfreezing = None
    if config.strategy == "gradual_unfreezing":
        unfreezing = GradualUnfreezing(every_n_epochs=config.unfreeze_every_epochs)
        callbacks.append(unfreezing)
    callbacks += [
        keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode="min" if "loss" in config.monitor else "max",
            patience=config.patience,
            restore_best_weights=True,
        ),
        keras.callbacks.ModelCheckpoint(
            os.path.join(run_dir, "checkpoints", "epoch-{epoch:02d}.weights.h5"),
            save_weights_only=True,
        ),
    ]
    fit_kwargs = {"validation_data": val_ds, "callbacks": callbacks, "verbose": verbose}

    start = time.time()
    with distribution.scope():
        if config.strategy == "linear_probe":
            histories = [linear_probe_fit(
                model, train_ds, epochs=config.epochs,
                compile_kwargs=compile_kwargs, **fit_kwargs,
            )]
            # Saved models load with a trainable backbone, ready for more training.
            unfreeze_backbone(model)
        elif two_stage:
            histories = list(two_stage_fit(
                model, train_ds,
                stage1_epochs=config.stage1_epochs, stage2_epochs=main_epochs,
                compile_kwargs_stage1=stage1_compile_kwargs,
                compile_kwargs_stage2=compile_kwargs, **fit_kwargs,
            ))
        else:
            model.compile(**compile_kwargs)
            histories = [model.fit(train_ds, epochs=config.epochs, **fit_kwargs)]
    seconds = time.time() - start
    history = _merge_histories(histories)
    if unfreezing is not None:
        history["unfrozen_blocks"] = list(unfreezing.unfrozen_log)
    with open(os.path.join(run_dir, "history.json"), "w") as f:
        json.dump(history, f, indent=2)

    val_targets, val_logits = predict_split(model, head.name, validation)
    calibration = head.calibrate(val_targets, val_logits, validation)
    metrics = {
        "head": head.name,
        "strategy": config.strategy,
        "train_seconds": round(seconds, 2),
        "epochs_run": len(history.get("loss", [])),
        "validation": evaluate_model(model, head.name, validation),
    }
    if calibration is not None:
        metrics["calibration"] = calibration
    if test is not None:
        metrics["test"] = evaluate_model(model, head.name, test)
        head.write_reports(metrics["test"], run_dir, prefix="test")
    _atomic_save_model(model, os.path.join(run_dir, "model.keras"))
    with open(os.path.join(run_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    logging.info("Fine-tuning metrics: %s", json.dumps(metrics.get("test", metrics["validation"]))[:500])
    return metrics


def _atomic_save_model(model: keras.Model, path: str) -> None:
    tmp = path + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)
