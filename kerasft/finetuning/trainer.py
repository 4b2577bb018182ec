"""Fine-tune one head on a labelled dataset, the library call behind `kerasft-finetune`.

Everything is plain Keras: a `TaskModel`, `compile`, `fit` with early
stopping on a validation metric (best weights restored), then the head's own
evaluation on the test split. The run directory gets `config.json`,
`vocab.txt`, `model.keras`, `checkpoints/`, `history.json`, `metrics.json`
and, for classification heads, a confusion-matrix PNG.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasft.backbone import BackboneConfig, build_backbone, load_backbone
from kerasft.finetuning.optimizers import make_optimizer
from kerasft.registry import get_head
from kerasft.task import TaskModel
from kerasft.tokenizers import TextPreprocessor, save_vocabulary, train_wordpiece_vocabulary


@dataclasses.dataclass
class FinetuneConfig:
    """One fine-tuning run, flat and JSON-serializable.

    Args:
        head: a registered head name (`kerasft.available_heads()`).
        train: the train file, in the head's format.
        validation: the validation file (early stopping).
        test: optional test file, evaluated once at the end.
        backbone: a backbone directory (`kerasft-pretrain` output, keras-hub
            preset or Hugging Face BERT); empty means a new random backbone
            with a vocabulary trained on the train text.
        vocabulary_size: WordPiece size when training from scratch.
        num_layers, num_heads, hidden_dim, intermediate_dim: from-scratch size.
        sequence_length: maximum tokens per text, special tokens included.
        lowercase: from-scratch tokenizer casing.
        epochs: maximum epochs.
        batch_size: examples per step.
        learning_rate: peak learning rate.
        warmup_ratio: fraction of total steps spent warming up.
        weight_decay: AdamW weight decay.
        dropout: head dropout.
        pooling: head pooling (`cls` or `mean`) for classification heads.
        patience: early-stopping patience in epochs.
        monitor: validation metric to early-stop on (`accuracy`, ...).
        seed: weights, shuffling and dropout seed.
        jit_compile: XLA (off: measured slower on 2-core CPUs).
    """

    head: str = "sentiment"
    train: str = ""
    validation: str = ""
    test: str = ""
    backbone: str = ""
    vocabulary_size: int = 8000
    num_layers: int = 2
    num_heads: int = 4
    hidden_dim: int = 128
    intermediate_dim: int = 512
    sequence_length: int = 128
    lowercase: bool = True
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    dropout: float = 0.1
    pooling: str = "cls"
    patience: int = 2
    monitor: str = "accuracy"
    seed: int = 0
    jit_compile: bool = False

    def __post_init__(self):
        for field in ("train", "validation"):
            if not getattr(self, field):
                raise ValueError(
                    f"`{field}` is required: the path of the {field} split "
                    f"(e.g. --{field}=../shared/data/sentiment_rt_polarity/"
                    f"{field}.jsonl)."
                )
        for field in ("epochs", "batch_size", "sequence_length"):
            if getattr(self, field) <= 0:
                raise ValueError(
                    f"`{field}` must be positive. Received: "
                    f"{field}={getattr(self, field)!r}."
                )


def _head_kwargs(head_cls, config: FinetuneConfig) -> dict:
    import inspect

    params = inspect.signature(head_cls.__init__).parameters
    kwargs = {"dropout": config.dropout}
    if "pooling" in params:
        kwargs["pooling"] = config.pooling
    return kwargs


def build_preprocessor_and_backbone(config: FinetuneConfig, train_texts):
    """Load the configured backbone, or make a new one with its own vocabulary."""
    if config.backbone:
        return load_backbone(config.backbone, sequence_length=config.sequence_length)
    vocab = train_wordpiece_vocabulary(
        train_texts, config.vocabulary_size, lowercase=config.lowercase
    )
    preprocessor = TextPreprocessor(
        vocab, sequence_length=config.sequence_length, lowercase=config.lowercase
    )
    backbone = build_backbone(
        BackboneConfig(
            vocabulary_size=len(vocab),
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            hidden_dim=config.hidden_dim,
            intermediate_dim=config.intermediate_dim,
            max_sequence_length=config.sequence_length,
        )
    )
    return backbone, preprocessor


def evaluate_model(
    model: TaskModel, head_name: str, examples, *, batch_size: int = 64
) -> dict:
    """The head's own report (accuracy, F1, ...) on labelled examples."""
    head = model.head(head_name)
    ds = head.make_dataset(examples, model.preprocessor, batch_size=batch_size)
    targets, logits = [], []
    for features, y in ds:
        logits.append(model(features, training=False)[head_name].numpy())
        targets.append(y[head_name].numpy())
    return head.evaluate(targets, logits, examples)


def finetune(config: FinetuneConfig, run_dir: str, *, verbose: int | str = "auto") -> dict:
    """Fine-tune `config.head` and write the run directory.

    Args:
        config: a `FinetuneConfig`.
        run_dir: output directory (created).
        verbose: Keras `fit` verbosity.

    Returns:
        The metrics written to `run_dir/metrics.json`.
    """
    os.makedirs(run_dir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    head_cls = get_head(config.head)
    train = head_cls.read_examples(config.train)
    validation = head_cls.read_examples(config.validation)
    test = head_cls.read_examples(config.test) if config.test else None
    labels = head_cls.labels_from_examples(train)

    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        backbone, preprocessor = build_preprocessor_and_backbone(
            config, [head_cls.example_text(e) for e in train]
        )
        head = head_cls(labels=labels, **_head_kwargs(head_cls, config))
        model = TaskModel(backbone, [head], preprocessor)
    # Validate every split's labels before spending time on training.
    head.encode(validation)
    if test is not None:
        head.encode(test)
    save_vocabulary(preprocessor.vocabulary, os.path.join(run_dir, "vocab.txt"))
    resolved = {
        **dataclasses.asdict(config),
        "labels": labels,
        "vocabulary_size_actual": preprocessor.vocabulary_size,
        "backbone_config": backbone.get_config(),
        "strategy": type(strategy).__name__,
    }
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(resolved, f, indent=2, default=str)

    train_ds = head.make_dataset(
        train, preprocessor, batch_size=config.batch_size, shuffle=True, seed=config.seed
    )
    val_ds = head.make_dataset(validation, preprocessor, batch_size=config.batch_size)
    steps_per_epoch = int(train_ds.cardinality())
    total_steps = steps_per_epoch * config.epochs
    with strategy.scope():
        optimizer = make_optimizer(
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            schedule="linear",
            warmup_steps=int(config.warmup_ratio * total_steps),
            total_steps=total_steps,
        )
        model.compile(
            optimizer=optimizer,
            loss=model.default_losses(),
            metrics=model.default_metrics(),
            jit_compile=config.jit_compile,
        )
    monitor = f"val_{config.monitor}"
    callbacks = [
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
    start = time.time()
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.time() - start
    with open(os.path.join(run_dir, "history.json"), "w") as f:
        json.dump(history.history, f, indent=2)

    metrics = {
        "head": head.name,
        "train_seconds": round(seconds, 2),
        "epochs_run": len(history.history.get("loss", [])),
        "validation": evaluate_model(model, head.name, validation),
    }
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
