"""Sweep of the pretraining recipe: held-out MLM quality per wall-clock second.

Each configuration is the demo recipe (`flags/demo_pretrain.flags`: the
sentiment train text, 2 layers x 128) with some fields overridden, run
through the library path (`kerasft.pretraining.run.run_pretraining`) in a
fresh process, one after the other. The held-out evaluation always masks
15% of the tokens (`validation_mask_rate`), whatever the training rate, so
rows are comparable. Prints one JSON line per run, then a table.

Usage:
    python benchmarks/sweep_pretraining.py                 # the default grid
    python benchmarks/sweep_pretraining.py --only lr2e-3,drop0
    python benchmarks/sweep_pretraining.py \
        --extra 'mine={"learning_rate": 1e-3, "steps": 800}'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                    "sentiment_rt_polarity")

# The demo recipe before issue 11, as `flags/demo_pretrain.flags` had it
# (the keras-hub vocabulary learner aside: vocabularies now come from HF
# `tokenizers`, 8,000 of 8,000 pieces instead of 2,842).
BASE = {
    "labelled_data": DATA,
    "labelled_splits": ["train"],
    "vocabulary_size": 8000,
    "sequence_length": 64,
    "num_layers": 2,
    "num_heads": 4,
    "hidden_dim": 128,
    "intermediate_dim": 512,
    "dropout": 0.1,
    "validation_documents": 500,
    "packing": "pack",
    "steps": 1500,
    "batch_size": 64,
    "learning_rate": 5e-4,
    "warmup_steps": 150,
    "checkpoint_every": 250,
    "seed": 0,
    "short_sequence_length": 0,
    "finetune_dropout": None,
}

# name -> overrides of BASE, each a 750-step budget (half the demo's) so the
# grid runs in about 15 minutes on 2 cores; `--extra` runs others.
_HALF = {"steps": 750, "warmup_steps": 75}
_TUNED = {**_HALF, "learning_rate": 2e-3, "dropout": 0.0}
GRID = {
    "old_recipe": _HALF,
    "lr2e-3_drop0": _TUNED,
    "lr2e-3_drop0_mask30": {**_TUNED, "mask_rate": 0.3},
    "lr2e-3_drop0_warm16": {**_TUNED, "short_sequence_length": 16},
    "lr2e-3_drop0_warm16_vocab4k": {**_TUNED, "short_sequence_length": 16,
                                    "vocabulary_size": 4000},
    # The chosen default: the demo's full budget.
    "chosen_1500": {"learning_rate": 2e-3, "warmup_steps": 100, "dropout": 0.0,
                    "finetune_dropout": 0.1, "short_sequence_length": 16},
}


def run_one(overrides: dict) -> dict:
    """Run one configuration in this process and return its figures."""
    import dataclasses

    from kerasft.pretraining.mlm import PretrainConfig
    from kerasft.pretraining.run import PretrainRunConfig, run_pretraining

    values = dict(BASE, **overrides)
    run_fields = {f.name for f in dataclasses.fields(PretrainRunConfig)}
    train_fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    unknown = set(values) - run_fields - train_fields
    if unknown:
        raise ValueError(f"Unknown fields {sorted(unknown)}.")
    run_config = PretrainRunConfig(**{k: v for k, v in values.items() if k in run_fields})
    train_config = PretrainConfig(
        **{k: v for k, v in values.items() if k in train_fields}
    )
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.time()
        metrics = run_pretraining(run_config, train_config, run_dir, verbose=0)
        wall = time.time() - start
    after = metrics.get("validation_after", {})
    return {
        "held_out_accuracy": after.get("accuracy"),
        "held_out_loss": after.get("loss"),
        "unigram_loss": metrics.get("unigram", {}).get("loss"),
        "tokens_seen": metrics.get("tokens_seen"),
        "vocabulary_size": metrics.get("vocabulary_size"),
        "steps": metrics.get("steps"),
        "train_seconds": metrics.get("seconds"),
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="Comma-separated grid names.")
    parser.add_argument(
        "--extra", action="append", default=[],
        help='NAME=JSON overrides of the base recipe (repeatable).',
    )
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        print("RESULT " + json.dumps(run_one(json.loads(args.one))), flush=True)
        return
    grid = dict(GRID)
    extras = []
    for item in args.extra:
        name, _, spec = item.partition("=")
        grid[name] = json.loads(spec)
        extras.append(name)
    # --extra alone runs just those; --only picks from the grid and extras.
    names = [n for n in args.only.split(",") if n] or extras or list(GRID)
    unknown = [n for n in names if n not in grid]
    if unknown:
        parser.error(f"unknown runs {unknown}; the grid has {sorted(grid)}")
    rows = []
    for name in names:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", json.dumps(grid[name])],
            capture_output=True, text=True,
        )
        lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(json.dumps({"name": name, "error": proc.stderr[-2000:]}), flush=True)
            continue
        row = {"name": name, **grid[name], **json.loads(lines[-1][7:])}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| run | overrides | vocab | held-out acc | held-out loss | unigram loss "
          "| steps | train s | wall s | acc per 100 s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        over = json.dumps(grid[r["name"]]).replace("|", "/")
        per = r["held_out_accuracy"] / r["wall_seconds"] * 100
        unigram = r["unigram_loss"]
        print(f"| {r['name']} | {over} | {r['vocabulary_size']} | "
              f"{r['held_out_accuracy']:.3f} | {r['held_out_loss']:.3f} | "
              f"{'n/a' if unigram is None else f'{unigram:.3f}'} | {r['steps']} | "
              f"{r['train_seconds']:.0f} | {r['wall_seconds']:.0f} | {per:.3f} |")


if __name__ == "__main__":
    main()
