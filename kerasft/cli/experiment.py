r"""kerasft-experiment: should you pretrain on your own text? Answer with numbers.

Runs, on one labelled dataset and head, the pretraining regimes (--regimes):
  baseline           TF-IDF + logistic regression (classification) or a CRF (NER)
  scratch            random backbone, fine-tune only
  self_train         masked-LM on the train split's text, then fine-tune
  self_transductive  adds the unlabeled validation + test text (transductive)
  mixture            masked-LM on a weighted mixture of --mixture_corpus specs
  off_the_shelf      the public MiniLM-L6 checkpoint, fine-tuned directly
  continued          MiniLM-L6 further pretrained on the train text
Each pretraining runs once and is shared by every fine-tuning seed (--seeds);
all regimes use the same fine-tuning recipe. Writes OUTPUT_DIR/report.md (the
verdict first: the recommended regime, with paired 95% confidence intervals
against the best and scratch; then mean ± std per regime, pretraining steps,
tokens and time, test-text leakage; the cost table with each regime's
batch-1 serving latency and size), results.json, test_metric.png,
learning_curves.png and the run directories. --label_fractions=0.1,0.3,1.0
adds a label-budget curve (label_curve.png): every regime and the baseline
fine-tuned on nested, stratified train subsets, pretraining shared.
Finished runs with the same settings are reused, so a rerun resumes.

With --export_winner=NAME the recommended regime's best model is exported to
--export_dir/NAME/VERSION/ for TF Serving.
Examples:
  kerasft-experiment --flagfile=flags/demo_experiment.flags
  kerasft-experiment --flagfile=flags/experiment_sentiment.flags
  kerasft-experiment --flagfile=flags/experiment_ner.flags --dry_run
  kerasft-experiment --head=sentiment --data_dir=DATA --regimes=scratch,self_train \
      --seeds=0,1,2 --pretrain_steps=500 --output_dir=runs/experiment
"""

import dataclasses
import json

from absl import flags

from kerasft.cli import app
from kerasft.experiment import ExperimentConfig, run_experiment, split_files
from kerasft.experiment.report import fmt_mean_std

app.define_dataclass_flags(ExperimentConfig)
app.define_distribution_flag()
flags.DEFINE_string("output_dir", "runs/experiment", "The experiment directory.")
flags.DEFINE_bool(
    "dry_run", False, "Print the resolved configuration and data files, then exit."
)

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    if FLAGS.distribution == "multi_worker":
        # Every worker would write the report and export the winner, and a
        # rerun's reuse decisions must agree on every worker.
        raise ValueError(
            "kerasft-experiment runs under --distribution=default or mirrored (all "
            "local devices). Received: --distribution=multi_worker. For several "
            "hosts, run kerasft-pretrain and kerasft-finetune with "
            "--distribution=multi_worker, then kerasft-experiment on one host."
        )
    config = app.dataclass_from_flags(ExperimentConfig)
    if FLAGS.dry_run:
        files = split_files(config.data_dir)
        from kerasft.data.corpus_stream import check_has_text

        for spec in config.mixture_corpora:
            check_has_text(spec)  # a mistyped corpus fails now, not an hour in
        print(json.dumps({"config": dataclasses.asdict(config), "files": files,
                          "output_dir": FLAGS.output_dir}, indent=2))
        return
    with app.training_strategy():
        results = run_experiment(config, FLAGS.output_dir, verbose=app.keras_verbosity())
    metric = results["metric"]
    for name, entry in results["regimes"].items():
        mark = " (transductive)" if entry["transductive"] else ""
        print(f"{name}{mark}: test {metric} {fmt_mean_std(entry['test'][metric])}")
    verdict = results["decision"].get("verdict")
    if verdict:
        print(f"Verdict: {verdict['paragraph']}")
    if results.get("winner"):
        print(f"Exported {results['winner']['regime']}: {results['winner']['version_dir']}")
    print(f"Report: {FLAGS.output_dir}/report.md")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
