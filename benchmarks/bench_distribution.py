"""Benchmark: pretraining step time on one process against two loopback workers.

Runs the real `kerasft-pretrain` binary on the same corpus, model and
global batch three ways: one process with one TF thread, one process with
two threads (the whole machine), and `--distribution=multi_worker` with two
worker processes on 127.0.0.1 (one thread each, `TF_CONFIG` per worker).
Step time is measured from the TensorBoard-free part of the run: the
`seconds` of `metrics.json` (fit with checkpoint saves) over its `steps`,
so TF start-up, vocabulary training and held-out evaluation are excluded.
On one 2-core host this shows that multi-worker training is correct and
what the gRPC collectives cost; it cannot show a speed-up (the workers
share the cores a single process already uses).

Usage:
    python benchmarks/bench_distribution.py [--steps 60] [--batch_size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from kerasft.distribution import loopback_tf_configs

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent


def _env(threads: int, **extra) -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_NUM_INTRAOP_THREADS=str(threads),
                TF_NUM_INTEROP_THREADS=str(threads), OMP_NUM_THREADS=str(threads), **extra)


def _run(args: list[str], out: pathlib.Path, workers: int, threads: int) -> dict:
    command = [str(BIN / "kerasft-pretrain"), *args, f"--output_dir={out}", "--noprogress"]
    if workers == 1:
        done = subprocess.run(command, env=_env(threads), capture_output=True, text=True,
                              cwd=REPO)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
    else:
        procs = [
            subprocess.Popen(
                [*command, "--distribution=multi_worker"], cwd=REPO,
                env=_env(threads, TF_CONFIG=tf_config),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for tf_config in loopback_tf_configs(workers)
        ]
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode:
                raise SystemExit(err[-3000:])
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "steps": metrics["steps"],
        "seconds": metrics["seconds"],
        "ms_per_step": round(1000 * metrics["seconds"] / metrics["steps"], 1),
        "tokens_per_second": round(metrics["tokens_seen"] / metrics["seconds"]),
        "num_replicas_in_sync": metrics["num_replicas_in_sync"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"
                                              / "sentiment_rt_polarity" / "train.jsonl"))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch_size", type=int, default=32)
    args = parser.parse_args()
    recipe = [f"--corpus={args.data}", f"--steps={args.steps}",
              f"--checkpoint_every={args.steps // 2}", f"--batch_size={args.batch_size}",
              "--warmup_steps=5", "--vocabulary_size=4000", "--validation_documents=64",
              "--num_layers=2", "--hidden_dim=128", "--intermediate_dim=512",
              "--num_heads=2", "--sequence_length=64", "--short_sequence_length=0"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, workers, threads in (("1 process, 1 thread", 1, 1),
                                       ("1 process, 2 threads", 1, 2),
                                       ("2 workers x 1 thread (loopback)", 2, 1)):
            rows[name] = _run(recipe, pathlib.Path(tmp) / name.split()[0] / str(threads),
                              workers, threads)
            print(json.dumps({"bench": "distribution", "setup": name, **rows[name]}))
    base = rows["1 process, 2 threads"]["ms_per_step"]
    print(f"\n| setup (global batch {args.batch_size}) | ms/step | real tokens/s | "
          "vs 1 process, 2 threads |\n| --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['ms_per_step']} | {row['tokens_per_second']} | "
              f"{base / row['ms_per_step']:.2f}x |")


if __name__ == "__main__":
    main()
