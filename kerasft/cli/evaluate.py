r"""kerasft-evaluate: score a trained model's heads on a labelled file.

Loads a fine-tuned model (a .keras file or a kerasft-finetune run directory),
reads --data with each head's own reader (JSONL for classification heads,
CoNLL for NER), and writes OUTPUT_DIR/ with metrics.json (every evaluated
head's report, keyed by head name) and the heads' reports: HEAD_report.txt
(per-class precision, recall, F1) and HEAD_confusion_matrix.png for
classification heads, HEAD_entities.txt (per-entity-type table) for NER. A
label the head was not trained with fails with the file, line and label.

Examples:
  kerasft-evaluate --model=runs/demo/sentiment \
      --data=../shared/data/sentiment_rt_polarity/test.jsonl --output_dir=runs/eval
  kerasft-evaluate --model=runs/ner/model.keras --head=ner \
      --data=../shared/data/ner_conll2003/test.txt --output_dir=runs/eval_ner
"""

from absl import flags

from kerasft.cli import app

flags.DEFINE_string("model", "", "A .keras model or a kerasft-finetune run directory.")
flags.DEFINE_multi_string("head", [], "Head to evaluate (repeatable). Default: every head.")
flags.DEFINE_string("data", "", "Labelled file in the heads' format (JSONL, CoNLL, ...).")
flags.DEFINE_string("output_dir", "runs/evaluate", "Where metrics.json and the reports go.")
flags.DEFINE_integer("batch_size", 64, "Prediction batch size.")

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    for name in ("model", "data"):
        if not FLAGS[name].value:
            raise ValueError(
                f"`--{name}` is required. Example: kerasft-evaluate "
                "--model=runs/demo/sentiment --data=test.jsonl --output_dir=runs/eval"
            )
    from kerasft.evaluation.evaluate import evaluate_model_file

    metrics = evaluate_model_file(
        FLAGS.model, FLAGS.data, FLAGS.output_dir, FLAGS.head or None,
        batch_size=FLAGS.batch_size,
    )
    for name, report in metrics["heads"].items():
        print(f"{name}: {report['summary']}")
    print(f"Reports: {FLAGS.output_dir}")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
