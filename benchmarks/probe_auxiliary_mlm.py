"""Fine-tuning with an auxiliary masked-LM loss, on an experiment's own runs.

Takes one fine-tuning run of `kerasft-experiment` (its `config.json`: data,
head and recipe) and repeats it with `MaskedLMAuxiliary`: the same backbone
(a pretrained `backbone/` or, with `--backbone=''`, a fresh one as in the
scratch regime), the same optimizer, schedule and early stopping on
validation accuracy, plus `--aux_weight` x masked-LM loss on a masked copy
of every train batch. `--load_head` starts the masked-LM head from the
pretraining run's `masked_lm_head.npz` instead of fresh weights. Prints the
test accuracy of every seed, then mean ± std.

Usage (about 2 minutes a seed on 2 cores, after the experiment ran):
    kerasft-experiment --flagfile=flags/experiment_sentiment.flags \
        --regimes=scratch,self_train --label_fractions=1.0 --seeds=0 --output_dir=runs/base
    python benchmarks/probe_auxiliary_mlm.py \
        --config runs/base/finetune/self_train/seed-0/config.json \
        --backbone runs/base/pretrain/self_train/backbone --aux_weight 0.5 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from kerasft.evaluation.predict import evaluate_model, predict_split  # noqa: E402
from kerasft.finetuning.auxiliary_mlm import MaskedLMAuxiliary  # noqa: E402
from kerasft.finetuning.config import FinetuneConfig  # noqa: E402
from kerasft.finetuning.starting_point import build_preprocessor_and_backbone  # noqa: E402
from kerasft.finetuning.trainer import _head_kwargs, make_loss  # noqa: E402
from kerasft.optim.optimizers import make_optimizer  # noqa: E402
from kerasft.pretraining.mlm import MASKED_LM_HEAD_WEIGHTS, load_masked_lm_head  # noqa: E402
from kerasft.registry import get_head  # noqa: E402
from kerasft.task import TaskModel  # noqa: E402

MONITOR = "val_task_accuracy"


class _TaskValidation(keras.callbacks.Callback):
    """Validation accuracy of the task model itself (the wrapper's inputs differ)."""

    def __init__(self, task_model, head_name, examples):
        super().__init__()
        self.task_model, self.head_name, self.examples = task_model, head_name, examples

    def on_epoch_end(self, epoch, logs=None):
        accuracy = evaluate_model(self.task_model, self.head_name, self.examples)["accuracy"]
        logs[MONITOR] = accuracy
        print(f"  epoch {epoch + 1}: validation accuracy {accuracy:.4f}, "
              f"masked-LM loss {logs.get('mlm_loss', float('nan')):.3f}", flush=True)


def run(config: FinetuneConfig, aux_weight: float, mask_rate: float, load_head: bool) -> float:
    """Test accuracy of one fine-tuning run of `config` with the auxiliary loss."""
    keras.utils.set_random_seed(config.seed)
    head_cls = get_head(config.head)
    train, validation, test = (head_cls.read_examples(p)
                               for p in (config.train, config.validation, config.test))
    backbone, pre = build_preprocessor_and_backbone(
        config, [head_cls.example_text(e) for e in train])
    head = head_cls(labels=head_cls.labels_from_examples(train), **_head_kwargs(head_cls, config))
    model = TaskModel(backbone, [head], pre)
    train_ds = head.make_dataset(train, pre, batch_size=config.batch_size, shuffle=True,
                                 seed=config.seed)
    steps = int(train_ds.cardinality()) * config.epochs
    aux = MaskedLMAuxiliary(model, aux_weight=aux_weight, mask_rate=mask_rate)
    if load_head:
        path = os.path.join(os.path.dirname(config.backbone), MASKED_LM_HEAD_WEIGHTS)
        load_masked_lm_head(aux.mlm_head, path)
    losses = {**aux.default_losses(), head.name: make_loss(config.loss, head, train)[0]}
    aux.compile(
        optimizer=make_optimizer(
            learning_rate=config.learning_rate, weight_decay=config.weight_decay,
            schedule=config.schedule, warmup_steps=int(config.warmup_ratio * steps),
            total_steps=steps),
        loss=losses, loss_weights=aux.loss_weights())
    stop = keras.callbacks.EarlyStopping(MONITOR, mode="max", patience=config.patience,
                                         restore_best_weights=True)
    aux.fit(aux.dataset(train_ds, seed=config.seed), epochs=config.epochs, verbose=0,
            callbacks=[_TaskValidation(model, head.name, validation), stop])
    targets, logits = predict_split(model, head.name, test)
    return head.evaluate(targets, logits, test)["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True,
                        help="config.json of one of the experiment's fine-tuning runs.")
    parser.add_argument("--backbone", default=None,
                        help="A pretrained backbone/ directory; '' for a fresh one "
                             "(default: the run's own).")
    parser.add_argument("--aux_weight", type=float, default=0.5)
    parser.add_argument("--mask_rate", type=float, default=0.15)
    parser.add_argument("--load_head", action="store_true",
                        help="Start the masked-LM head from the pretraining run's.")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    with open(args.config) as f:
        recorded = json.load(f)
    fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
    config = FinetuneConfig(**{k: v for k, v in recorded.items() if k in fields})
    if args.backbone is not None:
        config = dataclasses.replace(config, backbone=args.backbone)
    scores = []
    for seed in (int(s) for s in args.seeds.split(",")):
        score = run(dataclasses.replace(config, seed=seed), args.aux_weight, args.mask_rate,
                    args.load_head)
        scores.append(score)
        print(f"seed {seed}: test accuracy {score:.4f}", flush=True)
    spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
    print(f"backbone={config.backbone or 'fresh'} aux_weight={args.aux_weight} "
          f"load_head={args.load_head}: test accuracy {statistics.mean(scores):.4f} ± {spread:.4f}")
    print(json.dumps({"backbone": config.backbone, "aux_weight": args.aux_weight,
                      "load_head": args.load_head, "test_accuracy": scores}))


if __name__ == "__main__":
    main()
