r"""kerasft-pretrain: pretrain a BERT backbone with masked-LM on your own text.

Trains a WordPiece or SentencePiece tokenizer on the corpora (or keeps a
starting checkpoint's own), then pretrains with dynamic masking (15%,
80/10/10, optionally whole words) on packed or padded rows, and writes
OUTPUT_DIR/backbone/ (a keras-hub preset that kerasft-finetune --backbone=
loads) with config.json, vocab.txt, metrics.json (held-out MLM loss
before/after), masked_lm_head.npz, backup/ (for --resume), checkpoints/ and
tensorboard/ beside it.

Examples:
  kerasft-pretrain --flagfile=flags/demo_pretrain.flags
  kerasft-pretrain --corpus=reviews.txt:0.7 --corpus=news.jsonl:0.3 \
      --output_dir=runs/mix --steps=2000
  kerasft-pretrain --init_backbone=path/to/minilm --labelled_data=DATA_DIR \
      --output_dir=runs/tapt --steps=200
  kerasft-pretrain --flagfile=flags/demo_pretrain.flags --resume --steps=3000
"""

from absl import flags

from kerasft.cli import app
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.pretraining.run import PretrainRunConfig, run_pretraining

app.define_dataclass_flags(PretrainRunConfig, PretrainConfig)
app.define_distribution_flag()
flags.DEFINE_string("output_dir", "runs/pretrain", "The run directory.")
flags.DEFINE_bool("resume", False, "Continue an interrupted run in --output_dir.")

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    run_config = app.dataclass_from_flags(PretrainRunConfig)
    train_config = app.dataclass_from_flags(PretrainConfig, seed=FLAGS.seed)
    with app.training_strategy():
        metrics = run_pretraining(
            run_config, train_config, FLAGS.output_dir,
            resume=FLAGS.resume, verbose=app.keras_verbosity(),
        )
    from kerasft.pretraining.loop import MLM_ACCURACY_KEY, MLM_LOSS_KEY

    objective = train_config.objective
    line = (
        f"Pretrained ({objective}) {metrics['steps']} steps, "
        f"{metrics['tokens_seen']:,} tokens in {metrics['seconds']:.0f}s"
    )
    if "validation_after" in metrics:
        loss, accuracy = MLM_LOSS_KEY[objective], MLM_ACCURACY_KEY[objective]
        before, after = metrics["validation_before"], metrics["validation_after"]
        line += (
            f"; held-out MLM loss {before[loss]:.3f} -> {after[loss]:.3f} "
            f"(unigram {metrics['unigram']['loss']:.3f}), accuracy "
            f"{before[accuracy]:.3f} -> {after[accuracy]:.3f}"
        )
        if objective == "electra":
            line += (
                f"; replaced-token detection accuracy "
                f"{after['discriminator_accuracy']:.3f} (all-original "
                f"{after['original_rate']:.3f}), on replaced tokens "
                f"{after['replaced_accuracy']:.3f}"
            )
    print(f"{line}. Backbone: {FLAGS.output_dir}/backbone")
    if metrics.get("warning"):
        print(f"Warning: {metrics['warning']}")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
