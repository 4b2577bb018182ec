r"""kerasft-imbalance: does two-stage fine-tuning with a class-balanced loss help on imbalanced data?

Subsamples one class of the train split to --fraction (validation and test
untouched), then fine-tunes each arm once per seed with the kerasft-finetune
settings given here: plain full fine-tuning, and two-stage LP-FT whose
head-only stage uses the class-balanced loss. Writes OUTPUT_DIR/results.json,
report.md (test macro-F1 mean ± std per arm) and macro_f1.png, plus every
run's directory under OUTPUT_DIR/runs/ARM/seedS/. Finished runs with the
same settings are reused, so an interrupted experiment can be resumed.

Examples:
  kerasft-imbalance --flagfile=flags/imbalance_sentiment.flags
  kerasft-imbalance --train=DATA/train.jsonl --validation=DATA/validation.jsonl \
      --test=DATA/test.jsonl --minority_label=positive --fraction=0.1 \
      --seeds=0,1,2 --monitor=macro_f1 --output_dir=runs/imbalance
"""

from absl import flags

from kerasft.cli import app
from kerasft.cli import finetune as finetune_cli  # the fine-tuning flags
from kerasft.experiment.config import parse_seeds
from kerasft.experiment.report import fmt_mean_std
from kerasft.finetuning.config import FinetuneConfig

flags.adopt_module_key_flags(finetune_cli)
flags.DEFINE_string("minority_label", "positive", "The train class to subsample.")
flags.DEFINE_float("fraction", 0.1, "Share of the minority class kept in train, in (0, 1].")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each draws the subsample and seeds training.")
flags.FLAGS.set_default("output_dir", "runs/imbalance")

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    from kerasft.experiment.imbalance import run_imbalance_experiment

    seeds = parse_seeds(FLAGS.seeds)
    base = app.dataclass_from_flags(FinetuneConfig)  # seeds come from --seeds
    results = run_imbalance_experiment(
        base, FLAGS.output_dir, minority_label=FLAGS.minority_label,
        fraction=FLAGS.fraction, seeds=seeds, verbose=app.keras_verbosity(),
    )
    for name, arm in results["arms"].items():
        print(f"{name}: test macro-F1 {fmt_mean_std(arm['macro_f1'])} "
              f"over {len(seeds)} seeds")
    print(f"Report: {FLAGS.output_dir}/report.md")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
