r"""kerasft-predict: run an exported model on text, locally or via TF Serving.

Texts come from the command line, or one a line from stdin when none are
given. Against a local SavedModel directory (--saved_model) or a TF Serving
REST endpoint (--server with --model), sending TF Serving's `:predict`
request; results print readably (entity spans highlighted for NER), or as
JSON lines with --json.

Examples:
  kerasft-predict --saved_model=saved_models/sentiment/1 "a gripping film"
  echo "EU rejects German call" | kerasft-predict --saved_model=saved_models/ner/1
  kerasft-predict --server=http://localhost:8501 --model=sentiment "great"
"""

import json
import sys

from absl import flags

from kerasft.cli import app

flags.DEFINE_string("saved_model", "", "A SavedModel version directory.")
flags.DEFINE_string("server", "", "TF Serving REST address, e.g. http://localhost:8501.")
flags.DEFINE_string("model", "", "TF Serving model name (with --server).")
flags.DEFINE_integer("version", None, "TF Serving model version (with --server).")
flags.DEFINE_string("label", None, "TF Serving version label (with --server).")
flags.DEFINE_string("signature", "serving_default", "Signature to call.")
flags.DEFINE_bool("json", False, "Print one JSON object a line.")

FLAGS = flags.FLAGS


def main(argv):
    from kerasft.serving_client import format_prediction, predict

    texts = argv[1:]
    if not texts:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ValueError(
            "No text to predict. Pass texts as arguments or one a line on stdin."
        )
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ValueError(
            f"Text number {empty[0] + 1} is empty. Every input needs at least "
            "one non-space character."
        )
    if bool(FLAGS.saved_model) == bool(FLAGS.server):
        raise ValueError(
            "Pass exactly one of --saved_model=DIR or --server=URL (with --model)."
        )
    results = predict(
        texts,
        saved_model=FLAGS.saved_model or None,
        server=FLAGS.server or None,
        model=FLAGS.model or None,
        version=FLAGS.version,
        label=FLAGS.label,
        signature=FLAGS.signature,
    )
    for text, result in zip(texts, results):
        if FLAGS.json:
            print(json.dumps({"text": text, **result}, default=str))
        else:
            print(f"{text}\n  {format_prediction(result)}")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
