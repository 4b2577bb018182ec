"""Masked-LM vs ELECTRA at the same wall-clock budget, judged by fine-tuning.

Pretrains the demo backbone (`flags/demo_pretrain.flags`) once per
objective with the same `--max_seconds` cap (and the same step budget, so
the one that runs slower simply stops earlier), then fine-tunes each with
the demo recipe (`flags/demo_finetune.flags`) for several seeds and prints
test accuracy mean ± std per objective, plus one JSON line of all figures.
Every step is the real binary, so the numbers are what a user gets.

Usage (about 50 minutes on 2 cores):
    python benchmarks/compare_objectives.py [--max_seconds 280] [--seeds 0,1,2]
        [--electra_flag=--electra_mlm_fraction=0.3 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def _run(args: list[str]) -> float:
    start = time.time()
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_seconds", type=float, default=280.0,
                        help="Wall-clock cap of each pretraining's training loop.")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--output_dir", default="runs/compare_objectives")
    parser.add_argument("--electra_flag", action="append", default=[],
                        help="An extra kerasft-pretrain flag for the ELECTRA run "
                             "(repeatable), e.g. --electra_flag=--electra_mlm_fraction=0.3.")
    parser.add_argument("--objectives", default="mlm,electra")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    for objective in args.objectives.split(","):
        extra = args.electra_flag if objective == "electra" else []
        run_dir = os.path.join(args.output_dir, objective)
        wall = _run([
            os.path.join(BIN, "kerasft-pretrain"), "--flagfile=flags/demo_pretrain.flags",
            f"--objective={objective}", f"--output_dir={run_dir}/pretrain",
            f"--max_seconds={args.max_seconds}", "--noprogress", *extra,
        ])
        with open(os.path.join(run_dir, "pretrain", "metrics.json")) as f:
            pre = json.load(f)
        accuracies = []
        for seed in seeds:
            out = os.path.join(run_dir, f"finetune_seed{seed}")
            _run([
                os.path.join(BIN, "kerasft-finetune"), "--flagfile=flags/demo_finetune.flags",
                f"--backbone={run_dir}/pretrain/backbone", f"--output_dir={out}",
                f"--seed={seed}", "--noprogress",
            ])
            with open(os.path.join(out, "metrics.json")) as f:
                accuracies.append(json.load(f)["test"]["accuracy"])
        results[objective] = {
            "pretrain_steps": pre["steps"],
            "pretrain_seconds": pre["seconds"],
            "pretrain_wall_seconds": round(wall, 1),
            "tokens_seen": pre["tokens_seen"],
            "held_out_after": pre.get("validation_after"),
            "test_accuracy": accuracies,
            "mean": statistics.mean(accuracies),
            "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        }
    print("\n| objective | pretrain steps | pretrain s (fit) | tokens | "
          "test accuracy (mean ± std) | per seed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for objective, r in results.items():
        print(f"| {objective} | {r['pretrain_steps']:,} | {r['pretrain_seconds']:.0f} | "
              f"{r['tokens_seen']:,} | {r['mean']:.4f} ± {r['std']:.4f} | "
              f"{', '.join(f'{a:.4f}' for a in r['test_accuracy'])} |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
