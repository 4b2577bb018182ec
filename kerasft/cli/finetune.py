r"""kerasft-finetune: fine-tune a task head on a backbone and evaluate it.

Reads the train/validation/test files in the head's format, fine-tunes with
a strategy (full, linear probing, two-stage LP-FT, gradual unfreezing, or
from another task's fine-tuned backbone with --init_model), loss, schedule
and layer-wise decay chosen by flags, early stopping on a validation metric
(best weights restored), evaluates on test, and writes OUTPUT_DIR/ with
model.keras, config.json (every setting, strategy included), vocab.txt,
metrics.json, history.json, checkpoints/, backup/ (for --resume) and the
head's reports (a per-class table and confusion-matrix PNG for classification
heads).

Examples:
  kerasft-finetune --flagfile=flags/demo_finetune.flags
  kerasft-finetune --head=sentiment --backbone=runs/pretrain/backbone \
      --train=DATA/train.jsonl --validation=DATA/validation.jsonl \
      --test=DATA/test.jsonl --output_dir=runs/sentiment
  kerasft-finetune --flagfile=flags/demo_finetune.flags --strategy=two_stage \
      --stage1_epochs=1 --stage1_loss=class_balanced --monitor=macro_f1 \
      --schedule=slanted_triangular --layerwise_decay=0.8
  kerasft-finetune --flagfile=flags/demo_finetune.flags --resume  # after a crash
  kerasft-finetune --flagfile=flags/dp_sentiment.flags --dp_epsilon=1  # DP-SGD
"""

from absl import flags

from kerasft.cli import app
from kerasft.finetuning.config import FinetuneConfig
from kerasft.finetuning.trainer import finetune
from kerasft.registry import available_heads, get_head

app.define_dataclass_flags(FinetuneConfig)
app.define_distribution_flag()
flags.DEFINE_string("output_dir", "runs/finetune", "The run directory.")
flags.DEFINE_bool("list_heads", False, "Print the registered heads and exit.")
flags.DEFINE_bool(
    "resume", False,
    "Continue an interrupted run in --output_dir from its last epoch checkpoint "
    "(strategies full and gradual_unfreezing).",
)

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    if FLAGS.list_heads:
        print("\n".join(available_heads()))
        return
    config = app.dataclass_from_flags(FinetuneConfig, seed=FLAGS.seed)
    with app.training_strategy():
        metrics = finetune(config, FLAGS.output_dir, verbose=app.keras_verbosity(),
                           resume=FLAGS.resume)
    split = "test" if "test" in metrics else "validation"
    report = metrics[split]
    summary = get_head(metrics["head"]).summarize(report)
    print(f"{metrics['head']} {split}: {summary}. Run: {FLAGS.output_dir}")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
