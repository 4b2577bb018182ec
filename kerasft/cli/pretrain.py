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

import dataclasses

from absl import flags

from kerasft.cli import app

flags.DEFINE_multi_string(
    "corpus", [],
    "Corpus spec [tfds:]PATH[?field=F&split=S&data_dir=D][:WEIGHT]; repeat "
    "to mix corpora by weight (.txt, .jsonl, .csv, .tsv, .conll, dirs, globs).",
)
flags.DEFINE_string(
    "labelled_data", "",
    "A labelled dataset folder (train/validation/test files) whose text to add.",
)
flags.DEFINE_list(
    "labelled_splits", ["train"], "Splits of --labelled_data to use as text."
)
flags.DEFINE_bool(
    "allow_test_text", False,
    "Allow the test split's text in pretraining (transductive; recorded).",
)
flags.DEFINE_string(
    "init_backbone", "",
    "Start from this backbone directory (kerasft, keras-hub preset or Hugging "
    "Face BERT); its vocabulary is kept. Empty: a new random backbone.",
)
flags.DEFINE_string("output_dir", "runs/pretrain", "The run directory.")
flags.DEFINE_enum(
    "tokenizer", "wordpiece", ["wordpiece", "sentencepiece"],
    "Tokenizer trained for a new backbone (a starting checkpoint keeps its own).",
)
flags.DEFINE_integer("vocabulary_size", 8000, "Tokenizer vocabulary size.")
flags.DEFINE_bool("lowercase", True, "Lowercase and strip accents.")
flags.DEFINE_integer(
    "vocabulary_documents", 200_000,
    "Documents of the mixture sampled to train the tokenizer.",
)
flags.DEFINE_integer("sequence_length", 128, "Tokens per sequence.")
flags.DEFINE_integer("num_layers", 2, "Transformer layers of a new backbone.")
flags.DEFINE_integer("num_heads", 4, "Attention heads of a new backbone.")
flags.DEFINE_integer("hidden_dim", 128, "Hidden size of a new backbone.")
flags.DEFINE_integer("intermediate_dim", 512, "Feed-forward size of a new backbone.")
flags.DEFINE_float("dropout", 0.0, "Dropout of a new backbone while pretraining.")
flags.DEFINE_float(
    "finetune_dropout", 0.1,
    "Dropout the saved backbone carries into fine-tuning.",
)
flags.DEFINE_enum(
    "objective", "mlm", ["mlm", "electra"],
    "mlm: masked-LM; electra: replaced-token detection with a small generator "
    "(the backbone saved is the discriminator).",
)
flags.DEFINE_float("rtd_weight", 50.0, "ELECTRA: weight of the replaced-token loss.")
flags.DEFINE_float(
    "generator_fraction", 0.25,
    "ELECTRA: generator width as a fraction of the backbone's hidden size.",
)
flags.DEFINE_integer("steps", 1000, "Optimizer steps (the budget).")
flags.DEFINE_float("max_seconds", 0, "Optional wall-clock budget (0: none).")
flags.DEFINE_integer("batch_size", 64, "Sequences per step.")
flags.DEFINE_float("learning_rate", 2e-3, "Peak learning rate.")
flags.DEFINE_integer("warmup_steps", 100, "Linear warmup steps.")
flags.DEFINE_integer(
    "decay_steps", 0,
    "Step where the linear decay reaches 0 (0: --steps). Set it to the final "
    "budget when a run will be extended with --resume and a larger --steps.",
)
flags.DEFINE_float("weight_decay", 0.01, "AdamW weight decay (not on LayerNorm/bias).")
flags.DEFINE_float("mask_rate", 0.15, "Fraction of tokens to predict.")
flags.DEFINE_enum(
    "packing", "pack", ["pack", "pad"],
    "pack: concatenate documents into full rows; pad: one document a row.",
)
flags.DEFINE_bool("whole_word_masking", False, "Mask all pieces of a word or none.")
flags.DEFINE_integer(
    "short_sequence_length", 16,
    "Sequence-length warmup: rows of this many tokens (same tokens per step) "
    "for the first --short_sequence_fraction of the steps; 0: off.",
)
flags.DEFINE_float(
    "short_sequence_fraction", 0.5, "Share of --steps trained on short rows."
)
flags.DEFINE_bool("jit_compile", False, "Compile steps with XLA (slower on small CPUs).")
flags.DEFINE_integer("checkpoint_every", 100, "Steps between checkpoints.")
flags.DEFINE_integer(
    "validation_documents", 500, "Documents held out for MLM loss."
)
flags.DEFINE_bool("resume", False, "Continue an interrupted run in --output_dir.")

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    from kerasft.pretraining.mlm import PretrainConfig
    from kerasft.pretraining.run import PretrainRunConfig, run_pretraining

    run_config = PretrainRunConfig(
        corpora=FLAGS.corpus,
        labelled_data=FLAGS.labelled_data,
        labelled_splits=FLAGS.labelled_splits,
        allow_test_text=FLAGS.allow_test_text,
        init_backbone=FLAGS.init_backbone,
        tokenizer=FLAGS.tokenizer,
        vocabulary_size=FLAGS.vocabulary_size,
        lowercase=FLAGS.lowercase,
        vocabulary_documents=FLAGS.vocabulary_documents,
        sequence_length=FLAGS.sequence_length,
        num_layers=FLAGS.num_layers,
        num_heads=FLAGS.num_heads,
        hidden_dim=FLAGS.hidden_dim,
        intermediate_dim=FLAGS.intermediate_dim,
        dropout=FLAGS.dropout,
        finetune_dropout=FLAGS.finetune_dropout,
        validation_documents=FLAGS.validation_documents,
    )
    train_config = PretrainConfig(
        steps=FLAGS.steps,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        warmup_steps=FLAGS.warmup_steps,
        decay_steps=FLAGS.decay_steps or None,
        weight_decay=FLAGS.weight_decay,
        mask_rate=FLAGS.mask_rate,
        packing=FLAGS.packing,
        whole_word_masking=FLAGS.whole_word_masking,
        jit_compile=FLAGS.jit_compile,
        checkpoint_every=FLAGS.checkpoint_every,
        max_seconds=FLAGS.max_seconds or None,
        seed=FLAGS.seed,
        objective=FLAGS.objective,
        short_sequence_length=FLAGS.short_sequence_length,
        short_sequence_fraction=FLAGS.short_sequence_fraction,
        rtd_weight=FLAGS.rtd_weight,
        generator_fraction=FLAGS.generator_fraction,
    )
    metrics = run_pretraining(
        run_config, train_config, FLAGS.output_dir,
        resume=FLAGS.resume, verbose=app.keras_verbosity(),
    )
    from kerasft.pretraining.loop import MLM_ACCURACY_KEY, MLM_LOSS_KEY

    line = (
        f"Pretrained ({FLAGS.objective}) {metrics['steps']} steps, "
        f"{metrics['tokens_seen']:,} tokens in {metrics['seconds']:.0f}s"
    )
    if "validation_after" in metrics:
        loss, accuracy = MLM_LOSS_KEY[FLAGS.objective], MLM_ACCURACY_KEY[FLAGS.objective]
        before, after = metrics["validation_before"], metrics["validation_after"]
        line += (
            f"; held-out MLM loss {before[loss]:.3f} -> {after[loss]:.3f} "
            f"(unigram {metrics['unigram']['loss']:.3f}), accuracy "
            f"{before[accuracy]:.3f} -> {after[accuracy]:.3f}"
        )
        if FLAGS.objective == "electra":
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
