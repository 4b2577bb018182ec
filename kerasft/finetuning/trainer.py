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
With `dp_epsilon` > 0 it trains with DP-SGD (`kerasft.finetuning.privacy`)
and `metrics.json` records the privacy spent under `privacy`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Sequence

import keras
import tensorflow as tf
from absl import logging

from kerasft.atomic_files import atomic_path, remove_dead_temporaries, write_json
from kerasft.checkpoints import (
    Checkpoint,
    Checkpointer,
    EpochWeights,
    latest_checkpoint,
    restore_state,
    weights_fingerprint,
)
from kerasft.distribution import current_strategy, distribution_record, worker_output_dir
from kerasft.evaluation.predict import predict_split
from kerasft.finetuning.callbacks import HeadMetricsCallback, ResumableEarlyStopping
from kerasft.finetuning.config import LOSSES, FinetuneConfig, check_choice
from kerasft.finetuning.starting_point import build_preprocessor_and_backbone
from kerasft.finetuning import privacy
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
from kerasft.optim.optimizers import build_before_fit, make_optimizer
from kerasft.precision import use_precision
from kerasft.registry import get_head
from kerasft.task import TaskModel
from kerasft.tokenizers import save_vocabulary

def _head_kwargs(head_cls, config: FinetuneConfig) -> dict:
    unknown = [o for o in head_cls.trainer_options if not hasattr(config, o)]
    if unknown:
        raise ValueError(
            f"Head {head_cls.__name__} declares `trainer_options` {unknown} that "
            "are not fine-tuning settings. Expected names of `FinetuneConfig` "
            "fields (e.g. 'dropout', 'pooling')."
        )
    if config.classifier != "linear" and "classifier" not in head_cls.trainer_options:
        raise ValueError(
            f"classifier={config.classifier!r} needs a single-label classification "
            f"head, but head {config.head!r} ({head_cls.__name__}) has one output "
            "layer only. Use classifier='linear' (the default) with this head."
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
    check_choice("loss", name, LOSSES)
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


def _merge_histories(histories: Sequence[keras.callbacks.History],
                     resumed: dict | None = None) -> dict:
    # A resumed run's history starts with its checkpoint's epochs.
    merged: dict[str, list] = {k: list(v) for k, v in (resumed or {}).items()}
    if resumed:
        merged["stage"] = [1] * len(merged.get("loss", []))
    for stage, history in enumerate(histories, start=1):
        n = len(history.history.get("loss", []))
        for key, values in history.history.items():
            merged.setdefault(key, []).extend(float(v) for v in values)
        merged.setdefault("stage", []).extend([stage] * n)
    return merged


BACKUP_DIR = "backup"
# Strategies that train in one `fit`, so a checkpoint's epoch says where to go on.
RESUMABLE_STRATEGIES = ("full", "gradual_unfreezing")


def _resume_point(config: FinetuneConfig, backup_dir: str, resume_from: str,
                  resume: bool) -> Checkpoint | None:
    if not resume:
        shutil.rmtree(backup_dir, ignore_errors=True)
        return None
    if config.strategy not in RESUMABLE_STRATEGIES:
        raise ValueError(
            f"--resume continues runs of strategies {list(RESUMABLE_STRATEGIES)}; "
            f"received strategy={config.strategy!r}, whose stages each compile "
            "afresh. Rerun it without --resume."
        )
    checkpoint = latest_checkpoint(resume_from)
    if checkpoint is None:
        logging.warning("Nothing to resume in %s; starting at epoch 0.", resume_from)
    else:
        logging.info("Resuming after epoch %d of %d.", checkpoint.state["epoch"], config.epochs)
    return checkpoint


def finetune(
    config: FinetuneConfig, run_dir: str, *, verbose: int | str = "auto", resume: bool = False
) -> dict:
    """Fine-tune `config.head` with `config.strategy` and write the run directory.

    Args:
        config: a `FinetuneConfig`.
        run_dir: output directory (created).
        verbose: Keras `fit` verbosity.
        resume: continue from the newest sound checkpoint in `run_dir/backup/`
            (written at every epoch end: weights, optimizer, early-stopping
            progress); strategies `full` and `gradual_unfreezing` only. Not
            bit-exact: the shuffle order and dropout draws start afresh.

    Returns:
        The metrics written to `run_dir/metrics.json`.

    Example:
    >>> metrics = finetune(FinetuneConfig(train="t.jsonl", validation="v.jsonl",  # doctest: +SKIP
    ...                                   strategy="gradual_unfreezing"), "runs/gu")
    """
    # Under multi-worker training only the chief writes `run_dir`; every
    # worker resumes from the chief's checkpoint there.
    with worker_output_dir(run_dir) as out_dir, use_precision(config.precision):
        return _finetune(config, out_dir, os.path.join(run_dir, BACKUP_DIR), verbose, resume)


def _finetune(config: FinetuneConfig, run_dir: str, resume_from: str,
              verbose: int | str, resume: bool) -> dict:
    os.makedirs(run_dir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    backup_dir = os.path.join(run_dir, BACKUP_DIR)
    checkpoint = _resume_point(config, backup_dir, resume_from, resume)
    remove_dead_temporaries(run_dir, backup_dir, os.path.join(run_dir, "checkpoints"))
    resumed_epoch = 0 if checkpoint is None else int(checkpoint.state["epoch"])
    head_cls = get_head(config.head)
    train = head_cls.read_examples(config.train)
    validation = head_cls.read_examples(config.validation)
    test = head_cls.read_examples(config.test) if config.test else None
    labels = head_cls.labels_from_examples(train)

    distribution = current_strategy()
    placement = distribution_record(config.batch_size, distribution)
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
    dp_record = dp_budget = None
    if config.dp_epsilon:
        train_ds, dp_record, dp_budget = privacy.setup(
            config, model, head, train, preprocessor, steps_per_epoch=steps_per_epoch,
            replicas=placement["num_replicas_in_sync"], resume=resume,
        )
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
        **placement,
        "steps_per_epoch": steps_per_epoch,
        "class_weights": weights,
        "stage1_class_weights": stage1_weights,
        "layerwise_lr_multipliers": (
            layerwise_lr_multipliers(num_layers, decay) if decay else None
        ),
        "privacy": dp_record,
    }
    write_json(os.path.join(run_dir, "config.json"), resolved, default=str)

    monitor = f"val_{config.monitor}"
    callbacks: list[keras.callbacks.Callback] = []
    if not _keras_logged(config.monitor, head):
        callbacks.append(HeadMetricsCallback(head.name, validation, monitor=monitor))
    unfreezing = None
    if config.strategy == "gradual_unfreezing":
        unfreezing = GradualUnfreezing(
            every_n_epochs=config.unfreeze_every_epochs,
            initial_blocks=resumed_epoch // config.unfreeze_every_epochs,
        )
        callbacks.append(unfreezing)
    early_stopping = ResumableEarlyStopping(
        monitor=monitor,
        mode="min" if "loss" in config.monitor else "max",
        patience=config.patience,
        restore_best_weights=True,
    )
    if dp_budget is not None:
        callbacks.append(dp_budget)
    callbacks += [
        early_stopping,
        EpochWeights(os.path.join(run_dir, "checkpoints", "epoch-{epoch:02d}.weights.h5")),
    ]
    if config.strategy in RESUMABLE_STRATEGIES:
        # Last, so it saves this epoch's early-stopping progress.
        callbacks.append(Checkpointer(
            backup_dir, early_stopping.state, arrays=early_stopping.arrays,
            history=None if checkpoint is None else checkpoint.state.get("history"),
        ))
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
            initial_epoch = 0
            if checkpoint is not None:
                build_before_fit(model)
                restore_state(model, checkpoint.path, checkpoint.state)
                early_stopping.restore(checkpoint.state, checkpoint.arrays("best_weights"))
                # A run that had stopped early only restores its best weights.
                initial_epoch = config.epochs if early_stopping.exhausted else resumed_epoch
            histories = [model.fit(train_ds, epochs=config.epochs,
                                   initial_epoch=initial_epoch, **fit_kwargs)]
    seconds = time.time() - start
    model.dp_step = None
    history = _merge_histories(histories, checkpoint.state.get("history") if checkpoint else None)
    if unfreezing is not None:
        history["unfrozen_blocks"] = list(unfreezing.unfrozen_log)
    write_json(os.path.join(run_dir, "history.json"), history)

    val_targets, val_logits = predict_split(model, head.name, validation)
    calibration = head.calibrate(val_targets, val_logits, validation)
    metrics = {
        "head": head.name,
        "strategy": config.strategy,
        "train_seconds": round(seconds, 2),
        "num_replicas_in_sync": placement["num_replicas_in_sync"],
        "global_batch_size": placement["global_batch_size"],
        "num_workers": placement["num_workers"],
        "epochs_run": len(history.get("loss", [])),
        "resumed_from_epoch": resumed_epoch,
        # Real (non-padding) tokens the fit read: its cost in tokens.
        "train_tokens": _real_tokens(preprocessor, train, head_cls)
        * len(history.get("loss", [])),
        "validation": head.evaluate(val_targets, val_logits, validation),
    }
    if calibration is not None:
        metrics["calibration"] = calibration
    if dp_record is not None:
        metrics["privacy"] = privacy.spent(dp_record, dp_budget.steps)
    if test is not None:
        targets, logits = predict_split(model, head.name, test)
        metrics["test"] = head.evaluate(targets, logits, test)
        head.write_reports(metrics["test"], run_dir, prefix="test")
        _write_predictions(head, targets, logits, test, run_dir)
    # Equal on every worker of a multi-worker run.
    metrics["weights_sha256"] = weights_fingerprint(model)
    logging.info("Model weights SHA-256: %s", metrics["weights_sha256"])
    with atomic_path(os.path.join(run_dir, "model.keras")) as tmp:
        model.save(tmp)
    write_json(os.path.join(run_dir, "metrics.json"), metrics)
    logging.info("Fine-tuning metrics: %s", json.dumps(metrics.get("test", metrics["validation"]))[:500])
    return metrics


def _real_tokens(preprocessor, examples: Sequence, head_cls: type) -> int:
    """Real tokens of one epoch over `examples`, `[CLS]` and `[SEP]` included."""
    texts = tf.constant([head_cls.example_text(e) for e in examples])
    pieces = preprocessor.tokenize(texts).row_lengths().numpy()
    return int((pieces + 2).clip(max=preprocessor.sequence_length).sum())


PREDICTIONS_FILE = "test_predictions.json"


def _write_predictions(head, targets, logits, examples, run_dir: str) -> None:
    # Per-example predictions, for paired comparisons between runs.
    try:
        predicted = head.predicted_labels(targets, logits, examples)
    except NotImplementedError:
        logging.warning(
            "Head %s has no `predicted_labels`, so %s is not written and paired "
            "comparisons of this run are not possible.", head.name, PREDICTIONS_FILE,
        )
        return
    record = {"gold": head.gold_labels(examples), "predicted": predicted}
    write_json(os.path.join(run_dir, PREDICTIONS_FILE), record, indent=None)
