"""Benchmark: masked-LM training throughput, packed vs one document per row.

Trains a small `keras_hub.models.BertMaskedLM` (2 layers, hidden 128) on
short sentences, and reports real (non-padding) tokens per second, with and
without XLA (`jit_compile`). Batches are built by `pack_dataset` +
`masked_lm_example` and cached in memory first, so the timings are of
training steps alone; the input pipeline's own rate is printed separately.

Usage (`make bench` runs it with the defaults):
    python benchmarks/bench_packing.py \
        [--data ../shared/data/sentiment_rt_polarity/train.jsonl]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
import warnings

import keras
import keras_hub
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from kerasft.pretraining.masking import masked_lm_example
from kerasft.pretraining.packing import pack_dataset

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SEQUENCE_LENGTH = 128
MAX_SELECTIONS = 20  # ceil(0.15 * 128)


def read_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def make_tokenizer(vocab: list[str]) -> tf_text.BertTokenizer:
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            vocab, tf.range(len(vocab), dtype=tf.int64)
        ),
        default_value=vocab.index("[UNK]"),
    )
    return tf_text.BertTokenizer(
        table, token_out_type=tf.int64, lower_case=True, unknown_token="[UNK]"
    )


def make_dataset(texts, tokenizer, vocab, mode, batch_size):
    ids = {t: vocab.index(t) for t in SPECIAL_TOKENS}
    docs = (
        tf.data.Dataset.from_tensor_slices(texts)
        .batch(256)
        .map(tokenizer.tokenize, num_parallel_calls=tf.data.AUTOTUNE)
    )
    rows = pack_dataset(
        docs,
        sequence_length=SEQUENCE_LENGTH,
        batch_size=batch_size,
        cls_token_id=ids["[CLS]"],
        sep_token_id=ids["[SEP]"],
        pad_token_id=ids["[PAD]"],
        mode=mode,
        drop_remainder=True,
    )
    return rows.map(
        functools.partial(
            masked_lm_example,
            vocabulary_size=len(vocab),
            mask_token_id=ids["[MASK]"],
            unselectable_token_ids=list(ids.values()),
            max_selections=MAX_SELECTIONS,
            seed=0,
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def pipeline_rate(dataset) -> tuple[float, int]:
    """Real tokens per second through tokenize + pack + mask, and batches."""
    start, tokens, batches = time.perf_counter(), 0, 0
    for x, _, _ in dataset:
        tokens += int(tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32)))
        batches += 1
    return tokens / (time.perf_counter() - start), batches


def train_rate(batches, vocab_size, jit_compile, warmup, steps) -> dict:
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocab_size,
        num_layers=2,
        num_heads=2,
        hidden_dim=128,
        intermediate_dim=512,
        max_sequence_length=SEQUENCE_LENGTH,
    )
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  jit_compile=jit_compile)

    def as_dataset(chunk):
        # In-memory batches: the timing is of training steps alone.
        stacked = tf.nest.map_structure(lambda *xs: np.stack(xs), *chunk)
        return tf.data.Dataset.from_tensor_slices(stacked)

    warm, timed = batches[:warmup], batches[warmup:warmup + steps]
    model.fit(as_dataset(warm), epochs=1, verbose=0)
    start = time.perf_counter()
    history = model.fit(as_dataset(timed), epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    tokens = sum(int(np.sum(x["padding_mask"])) for x, _, _ in timed)
    predictions = sum(int(np.sum(w)) for _, _, w in timed)
    return {
        "step_ms": 1000 * seconds / len(timed),
        "tokens_per_step": tokens / len(timed),
        "tokens_per_s": tokens / seconds,
        "predictions_per_s": predictions / seconds,
        "loss": history.history["loss"][-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        # The shared data beside the repository, as `make bench` expects.
        default=os.path.join(
            os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
            "shared", "data", "sentiment_rt_polarity", "train.jsonl",
        ),
        help="JSONL file with a `text` field per line.",
    )
    parser.add_argument(
        "--vocabulary_file",
        default=None,
        help="Optional cache: read the vocabulary from here if it exists, "
        "else compute it and write it here.",
    )
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    # Keras notes that shuffle is ignored and that the unused pooler gets no
    # gradients; both are expected here.
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")

    texts = read_texts(args.data)
    start = time.perf_counter()
    if args.vocabulary_file and os.path.exists(args.vocabulary_file):
        with open(args.vocabulary_file, encoding="utf-8") as f:
            vocab = f.read().splitlines()
    else:
        vocab = keras_hub.tokenizers.compute_word_piece_vocabulary(
            tf.data.Dataset.from_tensor_slices(texts).batch(1000),
            vocabulary_size=4000,
            lowercase=True,
            strip_accents=True,
            reserved_tokens=SPECIAL_TOKENS,
        )
        vocab = [v.decode() if isinstance(v, bytes) else v for v in vocab]
        if args.vocabulary_file:
            with open(args.vocabulary_file, "w", encoding="utf-8") as f:
                f.write("".join(token + "\n" for token in vocab))
    # Fewer than 4,000: keras-hub drops pieces seen fewer than 10 times.
    print(f"{len(texts)} texts; WordPiece vocabulary of {len(vocab)} "
          f"tokens in {time.perf_counter() - start:.1f}s")
    tokenizer = make_tokenizer(vocab)

    results = []
    for mode in ("pad", "pack"):
        dataset = make_dataset(texts, tokenizer, vocab, mode, args.batch_size)
        rate, num_batches = pipeline_rate(dataset)
        print(f"{mode}: {num_batches} batches of {args.batch_size}x"
              f"{SEQUENCE_LENGTH}; input pipeline {rate:,.0f} real tokens/s")
        needed = args.warmup + args.steps
        if num_batches < needed:
            raise ValueError(
                f"`--warmup` + `--steps` must be at most {num_batches} (the "
                f"{mode} batches available). Received: {needed}."
            )
        batches = [
            tuple(tf.nest.map_structure(lambda t: t.numpy(), b))
            for b in dataset.take(needed)
        ]
        for jit_compile in (False, True):
            result = train_rate(batches, len(vocab), jit_compile,
                                args.warmup, args.steps)
            results.append((mode, jit_compile, result))

    base = results[0][2]["tokens_per_s"]
    print()
    print(f"{'mode':<5} {'jit':<5} {'step ms':>8} {'real tok/step':>13} "
          f"{'real tok/s':>11} {'masked/s':>9} {'speedup':>8}")
    for mode, jit_compile, r in results:
        print(
            f"{mode:<5} {str(jit_compile):<5} {r['step_ms']:>8.1f} "
            f"{r['tokens_per_step']:>13.0f} {r['tokens_per_s']:>11,.0f} "
            f"{r['predictions_per_s']:>9,.0f} "
            f"{r['tokens_per_s'] / base:>7.2f}x"
        )


if __name__ == "__main__":
    main()
