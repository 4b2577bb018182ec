r"""kerasft-finetune: fine-tune a task head on a backbone and evaluate it.

Reads the train/validation/test files in the head's format, fine-tunes with
early stopping on a validation metric (best weights restored), evaluates on
test, and writes OUTPUT_DIR/ with model.keras, config.json, vocab.txt,
metrics.json, history.json, checkpoints/ and the head's reports (a per-class
table and confusion-matrix PNG for classification heads).

Examples:
  kerasft-finetune --flagfile=flags/demo_finetune.flags
  kerasft-finetune --head=sentiment --backbone=runs/pretrain/backbone \
      --train=DATA/train.jsonl --validation=DATA/validation.jsonl \
      --test=DATA/test.jsonl --output_dir=runs/sentiment
"""

from absl import flags

from kerasft.cli import app
from kerasft.finetuning.trainer import FinetuneConfig

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
    "learning_rate": "Peak learning rate (linear warmup, then linear decay).",
    "warmup_ratio": "Fraction of steps spent warming up.",
    "weight_decay": "AdamW weight decay (not on biases and LayerNorms).",
    "dropout": "Head dropout.",
    "pooling": "Classification pooling: cls (pooler) or mean (token average).",
    "patience": "Early-stopping patience in epochs.",
    "monitor": "Validation metric for early stopping (e.g. accuracy, loss).",
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
    summary = ", ".join(
        f"{k} {report[k]:.4f}" for k in ("accuracy", "macro_f1", "f1") if k in report
    )
    print(f"{metrics['head']} {split}: {summary}. Run: {FLAGS.output_dir}")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
