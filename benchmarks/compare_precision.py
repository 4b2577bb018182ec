"""Measurement: float32 against mixed bfloat16, for speed and for quality, end to end.

Each arm runs the real binaries in its precision: `kerasft-pretrain
--flagfile=flags/demo_pretrain.flags --precision=P` (the demo recipe on the
sentiment train text; held-out masked-LM loss and accuracy, real tokens per
second), then `kerasft-finetune --flagfile=flags/demo_finetune.flags
--precision=P` from that backbone with 3 seeds (test accuracy, fine-tuning
seconds). Arms alternate, so a drifting machine hits both alike. Prints one
JSON line a run and a table.

Usage:
    python benchmarks/compare_precision.py [--seeds 0,1,2] [--epochs 2] [--steps 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
PRECISIONS = ("float32", "mixed_bfloat16")


def _run(command: list[str]) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)}\nfailed:\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--output_dir", default=str(REPO / "runs" / "compare_precision"))
    args = parser.parse_args()
    out = pathlib.Path(args.output_dir)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {p: {"finetune": {}} for p in PRECISIONS}
    for precision in PRECISIONS:
        pre_dir = out / precision / "pretrain"
        if not (pre_dir / "metrics.json").is_file():  # reruns skip finished runs
            _run([str(BIN / "kerasft-pretrain"), "--flagfile=flags/demo_pretrain.flags",
                  f"--output_dir={pre_dir}", f"--steps={args.steps}",
                  f"--precision={precision}", "--noprogress"])
        metrics = json.loads((pre_dir / "metrics.json").read_text())
        results[precision]["pretrain"] = {
            "held_out_loss": round(metrics["validation_after"]["loss"], 4),
            "held_out_accuracy": round(metrics["validation_after"]["accuracy"], 4),
            # Over the whole run (both sequence-length phases, tracing and
            # checkpoint saves included): what the run cost.
            "real_tokens_per_second": round(metrics["tokens_seen"] / metrics["seconds"], 1),
            "steady_real_tokens_per_second": metrics["real_tokens_per_second"],
            "seconds": metrics["seconds"],
        }
        print(json.dumps({"precision": precision, "pretrain": results[precision]["pretrain"]}),
              flush=True)
    for seed in seeds:
        for precision in PRECISIONS:
            ft_dir = out / precision / f"finetune-seed-{seed}"
            if not (ft_dir / "metrics.json").is_file():
                _run([str(BIN / "kerasft-finetune"), "--flagfile=flags/demo_finetune.flags",
                      f"--backbone={out / precision / 'pretrain' / 'backbone'}",
                      f"--output_dir={ft_dir}", f"--epochs={args.epochs}", f"--seed={seed}",
                      f"--precision={precision}", "--noprogress"])
            metrics = json.loads((ft_dir / "metrics.json").read_text())
            run = {"test_accuracy": round(metrics["test"]["accuracy"], 4),
                   "train_seconds": metrics["train_seconds"],
                   "train_tokens_per_second": round(
                       metrics["train_tokens"] / metrics["train_seconds"], 1)}
            results[precision]["finetune"][seed] = run
            print(json.dumps({"precision": precision, "seed": seed, **run}), flush=True)

    def cell(values):
        values = list(values)
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.4f} ± {spread:.4f}"

    print("\n| precision | pretrain real tokens/s | pretrain s | held-out MLM loss | "
          "held-out MLM accuracy | fine-tune tokens/s | sentiment test accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for precision in PRECISIONS:
        pre, runs = results[precision]["pretrain"], results[precision]["finetune"].values()
        print(f"| {precision} | {pre['real_tokens_per_second']:.0f} | {pre['seconds']:.0f} | "
              f"{pre['held_out_loss']:.4f} | {pre['held_out_accuracy']:.4f} | "
              f"{statistics.median(r['train_tokens_per_second'] for r in runs):.0f} | "
              f"{cell(r['test_accuracy'] for r in runs)} |")
    base, mixed = (results[p]["pretrain"]["real_tokens_per_second"] for p in PRECISIONS)
    print(f"bfloat16 / float32 pretraining speed: {mixed / base:.2f}x")


if __name__ == "__main__":
    main()
