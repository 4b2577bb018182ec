"""Serving benchmark: latency and throughput of an exported SavedModel.

Loads the SavedModel in a fresh process that imports only TensorFlow and
tensorflow-text (as the TF Serving model server would run it) and times the
`serving_default` signature on real sentences from the shared sentiment test
split: batch-1 latency (p50/p99) and batch-64 throughput (sentences/s).

By default it benchmarks the newest `saved_models/sentiment/N` (run
`make demo` first) and, for comparison, the same model exported with fixed
padding to the full sequence length instead of to each batch's longest text.

    python benchmarks/bench_serving.py [--saved_model DIR] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
TEST_SPLIT = REPO.parent / "shared" / "data" / "sentiment_rt_polarity" / "test.jsonl"

TIMER = r"""
import json, sys, time
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401
path, texts_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
texts = json.load(open(texts_file))
fn = tf.saved_model.load(path).signatures["serving_default"]
for i in range(5):  # warm up every shape path
    fn(text=tf.constant(texts[i:i + 64]))
    fn(text=tf.constant(texts[i:i + 1]))
lat, i, start = [], 0, time.perf_counter()
while time.perf_counter() - start < seconds / 2 or len(lat) < 50:
    t = time.perf_counter()
    fn(text=tf.constant([texts[i % len(texts)]]))
    lat.append(time.perf_counter() - t)
    i += 1
n, batches, start = 0, 0, time.perf_counter()
while time.perf_counter() - start < seconds / 2 or batches < 5:
    b = [texts[(batches * 64 + j) % len(texts)] for j in range(64)]
    fn(text=tf.constant(b))
    n += 64
    batches += 1
elapsed = time.perf_counter() - start
lat = np.array(lat) * 1000
print(json.dumps({"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
                  "batch1_requests": len(lat), "batch64_sentences_per_s": n / elapsed}))
"""


def _newest_export() -> pathlib.Path | None:
    root = REPO / "saved_models" / "sentiment"
    versions = sorted((int(p.name), p) for p in root.glob("[0-9]*") if p.name.isdigit())
    return versions[-1][1] if versions else None


def _time(path: pathlib.Path, texts_file: str, seconds: float) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(
        [sys.executable, "-P", "-c", TIMER, str(path), texts_file, str(seconds)],
        capture_output=True, text=True, env=env, cwd="/", check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fixed_padding_copy(path: pathlib.Path, out_root: str) -> pathlib.Path:
    """Re-export the run's model with padding to the full sequence length."""
    import kerasft
    from kerasft.export.saved_model import export_model

    run_model = REPO / "runs" / "demo" / "sentiment" / "model.keras"
    model = kerasft.load_model(str(run_model), compile=False)
    config = model.preprocessor.get_config()
    config["pad_to_longest"] = False
    model.preprocessor = kerasft.TextPreprocessor.from_config(config)
    return export_model(model, out_root, "fixed", verify=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saved_model", default=None)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    path = pathlib.Path(args.saved_model) if args.saved_model else _newest_export()
    if path is None or not (path / "saved_model.pb").is_file():
        sys.exit("No SavedModel to benchmark: run `make demo` first or pass --saved_model.")
    texts = [json.loads(line)["text"] for line in TEST_SPLIT.open()]
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = os.path.join(tmp, "texts.json")
        with open(texts_file, "w") as f:
            json.dump(texts, f)
        rows = [("pad to longest (exported)", path, _time(path, texts_file, args.seconds))]
        if not args.saved_model and (REPO / "runs/demo/sentiment/model.keras").is_file():
            fixed = _fixed_padding_copy(path, tmp)
            rows.append(("pad to sequence_length", fixed, _time(fixed, texts_file, args.seconds)))
    print(f"\nServing benchmark: {path} (fresh process, TF + tf.text only, "
          f"{len(texts)} real test sentences, {os.cpu_count()} cores)")
    print(f"{'variant':28} {'b1 p50 ms':>10} {'b1 p99 ms':>10} {'b64 sent/s':>11}")
    for name, _, r in rows:
        print(f"{name:28} {r['p50_ms']:10.2f} {r['p99_ms']:10.2f} {r['batch64_sentences_per_s']:11.0f}")
    if len(rows) == 2:
        a, b = rows[0][2], rows[1][2]
        print(f"speed-up of padding to longest: batch 64 "
              f"{a['batch64_sentences_per_s'] / b['batch64_sentences_per_s']:.2f}x, "
              f"batch 1 p50 {b['p50_ms'] / a['p50_ms']:.2f}x")


if __name__ == "__main__":
    main()
