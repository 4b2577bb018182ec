r"""kerasft-finetune: fine-tune a task head on a backbone and evaluate it.

Reads the train/validation/test files in the head's format, fine-tunes with
a strategy (full, linear probing, two-stage LP-FT, gradual unfreezing, or
from another task's fine-tuned backbone with --init_model), loss, schedule
and layer-wise decay chosen by flags, early stopping on a validation metric
(best weights restored), evaluates on test, and writes OUTPUT_DIR/ with
model.keras, config.json (every setting, strategy included), vocab.txt,
metrics.json, history.json, checkpoints/ and the head's reports (a per-class
table and confusion-matrix PNG for classification heads).

Examples:
  kerasft-finetune --flagfile=flags/demo_finetune.flags
  kerasft-finetune --head=sentiment --backbone=runs/pretrain/backbone \
      --train=DATA/train.jsonl --validation=DATA/validation.jsonl \
      --test=DATA/test.jsonl --output_dir=runs/sentiment
  kerasft-finetune --flagfile=flags/demo_finetune.flags --strategy=two_stage \
      --stage1_epochs=1 --stage1_loss=class_balanced --monitor=macro_f1 \
      --schedule=slanted_triangular --layerwise_decay=0.8
"""

from absl import flags

from kerasft.cli import app
from kerasft.finetuning.trainer import FinetuneConfig
from kerasft.registry import get_head

HELPS = {
    "head": "Registered head name (see --list_heads).",
    "train": "Train split file, in the head's format (JSONL, CoNLL, ...).",
    "validation": "Validation split file (early stopping).",
    "test": "Optional test split file, evaluated at the end.",
    "backbone": "Backbone directory (kerasft-pretrain output, keras-hub preset "
    "or Hugging Face BERT). Empty: new random backbone, vocabulary from train.",
    "vocabulary_size": "WordPiece size for a from-scratch backbone.",
    "num_layers": "Layers of a from-scratch backbone.",
    "num_heads": "Attention heads of a from-scratch backbone.",
    "hidden_dim": "Hidden size of a from-scratch backbone.",
    "intermediate_dim": "Feed-forward size of a from-scratch backbone.",
    "sequence_length": "Maximum tokens per text, special tokens included.",
    "lowercase": "Lowercase (from-scratch tokenizer only).",
    "epochs": "Maximum epochs.",
    "batch_size": "Examples per step.",
    "init_model": "Intermediate fine-tuning: a fine-tuned .keras model or "
    "kerasft-finetune run directory whose backbone and tokenizer to start from "
    "(its heads are dropped). Excludes --backbone.",
    "learning_rate": "Peak learning rate (of the head for --strategy=linear_probe).",
    "warmup_ratio": "Fraction of steps spent warming up (linear, cosine, constant).",
    "weight_decay": "AdamW weight decay (not on biases and LayerNorms).",
    "schedule": "Learning-rate schedule: linear (warmup, linear decay), cosine "
    "(warmup, cosine decay), slanted_triangular (ULMFiT, 10% rise) or constant.",
    "layerwise_decay": "Layer-wise learning-rate decay in (0, 1]: the top "
    "transformer layer gets lr*d, each lower one d times less, embeddings "
    "least. 1 disables it.",
    "strategy": "full (everything trains), linear_probe (backbone frozen), "
    "two_stage (LP-FT: --stage1_epochs head-only, then everything) or "
    "gradual_unfreezing (ULMFiT: one more backbone block every "
    "--unfreeze_every_epochs, top first).",
    "stage1_epochs": "Head-only epochs of --strategy=two_stage (counted in --epochs).",
    "stage1_learning_rate": "Constant learning rate of the two_stage head-only stage.",
    "stage1_loss": "Loss of the two_stage head-only stage (e.g. class_balanced); "
    "empty: --loss.",
    "unfreeze_every_epochs": "Epochs between two gradual_unfreezing steps.",
    "loss": "cross_entropy, class_balanced (effective number of samples, Cui "
    "et al. 2019), inverse_frequency or focal. Class weights come from the "
    "train counts and are recorded in config.json.",
    "class_balance_beta": "Effective-number beta in [0, 1) for class_balanced "
    "(near 1: close to inverse frequency).",
    "focal_gamma": "Focal-loss focusing parameter (>= 0; 0 is cross-entropy).",
    "dropout": "Head dropout.",
    "pooling": "Classification pooling: cls (pooler) or mean (token average).",
    "patience": "Early-stopping patience in epochs.",
    "monitor": "Validation metric for early stopping (best weights restored): "
    "loss, accuracy, or any number of the head's report, e.g. macro_f1 "
    "(classification) or f1 (entities), computed each epoch end.",
    "jit_compile": "Compile with XLA (slower on small CPUs).",
}
app.define_dataclass_flags(FinetuneConfig, HELPS, skip=("seed",))
flags.DEFINE_string("output_dir", "runs/finetune", "The run directory.")
flags.DEFINE_bool("list_heads", False, "Print the registered heads and exit.")

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    from kerasft.registry import available_heads

    if FLAGS.list_heads:
        print("\n".join(available_heads()))
        return
    from kerasft.finetuning.trainer import finetune

    config = app.dataclass_from_flags(FinetuneConfig, skip=("seed",), seed=FLAGS.seed)
    metrics = finetune(config, FLAGS.output_dir, verbose=app.keras_verbosity())
    split = "test" if "test" in metrics else "validation"
    report = metrics[split]
    summary = get_head(metrics["head"]).summarize(report)
    print(f"{metrics['head']} {split}: {summary}. Run: {FLAGS.output_dir}")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
