"""Score an exported SavedModel on a labelled JSONL file, as TF Serving would run it.

A standalone script, run in its own process so that nothing but TensorFlow
and tensorflow-text is loaded, as in the model server:

    python served_accuracy.py SAVED_MODEL_DIR DATA.jsonl [--signature=NAME] [--json]

It loads the SavedModel with the `serve` tag, feeds every `text` of the
file through the signature's `text` input in batches, and compares its
`label` output with each line's `label`. It prints the accuracy (and, with
`--json`, a last line of JSON with the counts and the top-level modules the
process imported, so a caller can check no kerasft, keras-hub or keras
module was needed; `import tensorflow` itself loads keras). Exits 1 when the file or the outputs are not what is
expected.

Like `serving_check.py`, this file imports only the standard library,
`tensorflow` and `tensorflow_text`.
"""

import os
import sys

# Running `python .../kerasft/export/served_accuracy.py` puts this directory
# first on sys.path, where sibling modules could shadow real packages.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402


def read_labelled(path: str) -> tuple[list[str], list[str]]:
    """Texts and labels of a `{"text": ..., "label": ...}` JSONL file (BOM and CRLF allowed)."""
    texts, labels = [], []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {number}: not valid JSON ({e.msg}).") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(
                row.get("label"), str
            ):
                raise ValueError(
                    f"{path}, line {number}: expected an object with string 'text' "
                    f"and 'label'. Received: {line.strip()[:80]!r}"
                )
            texts.append(row["text"])
            labels.append(row["label"])
    if not texts:
        raise ValueError(f"{path}: no labelled lines.")
    return texts, labels


def score(saved_model_dir: str, data: str, signature: str = "serving_default",
          batch_size: int = 256) -> dict:
    """Accuracy of the signature's `label` output against the file's labels.

    Args:
        saved_model_dir: a numeric version directory (`saved_models/NAME/N`).
        data: a labelled JSONL file.
        signature: the signature to call.
        batch_size: texts per call.

    Example:
    >>> score("saved_models/sentiment/3", "test.jsonl")["accuracy"]  # doctest: +SKIP
    0.8123
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tf.text ops)

    texts, labels = read_labelled(data)
    model = tf.saved_model.load(saved_model_dir, tags=["serve"])
    if signature not in model.signatures:
        raise ValueError(
            f"No signature {signature!r} in {saved_model_dir}. Signatures: "
            f"{sorted(model.signatures)}."
        )
    fn = model.signatures[signature]
    predicted = []
    for start in range(0, len(texts), batch_size):
        out = fn(text=tf.constant(texts[start:start + batch_size]))
        if "label" not in out:
            raise ValueError(
                f"Signature {signature!r} has no `label` output (outputs: "
                f"{sorted(out)}); only single-label classification exports can be scored."
            )
        predicted += [x.decode("utf-8") for x in out["label"].numpy()]
    correct = sum(p == g for p, g in zip(predicted, labels))
    return {
        "saved_model": saved_model_dir,
        "data": data,
        "signature": signature,
        "examples": len(labels),
        "correct": correct,
        "accuracy": correct / len(labels),
        "modules": sorted({m.split(".")[0] for m in sys.modules}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("saved_model_dir")
    parser.add_argument("data")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        summary = score(args.saved_model_dir, args.data, args.signature)
    except (ValueError, OSError) as e:
        print(f"served_accuracy: error: {e}", file=sys.stderr)
        return 1
    print(
        f"{summary['saved_model']} ({summary['signature']}): accuracy "
        f"{summary['accuracy']:.4f} on {summary['examples']} examples of {summary['data']}, "
        "served by TensorFlow and tensorflow-text alone."
    )
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
