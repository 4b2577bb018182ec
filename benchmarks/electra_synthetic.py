"""ELECTRA vs masked-LM on a synthetic task any working trainer learns.

Rows count upward (token i+1 follows token i, modulo the vocabulary), so a
masked token is given by its neighbour and a replaced one breaks the count.
`BertMaskedLM` learns this in a few hundred steps; the script prints, per
epoch, the MLM accuracy, or the ELECTRA generator's accuracy and the
discriminator's loss next to the entropy of always answering "original".
A diagnostic for issue 11 (the discriminator staying at the trivial answer).

Measured (2 cores, 2026-12-04): from random weights the discriminator loss
sits at the always-original entropy for the whole run, even after the
generator has learned the task; a plain backbone with a binary head on
uniformly random replacements escapes that plateau only after ~500 steps at
1e-3. `--warmup_epochs N` first trains the backbone as a masked-LM (what
`--electra_mlm_fraction` does in `kerasft-pretrain`). On this toy task it
does not help: after a 300-step warmup (backbone MLM accuracy 0.385) the
discriminator loss still tracks the always-original entropy for 200 RTD
steps (replaced accuracy 0.000-0.008), while on the demo's real text the
same warmup lets RTD learn (README, ELECTRA). Why the two differ is open.

Usage:
    python benchmarks/electra_synthetic.py [--objective electra|mlm]
        [--learning_rate 2e-3] [--rtd_weight 50] [--no_clip] [--epochs 6]
        [--warmup_epochs 0]
"""

from __future__ import annotations

import argparse
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasft.pretraining.electra import ElectraPretrainer  # noqa: E402

VOCAB, LENGTH, MASKS, BATCH, MASK_ID = 64, 32, 5, 64, 4


def counting_batches(seed: int = 0) -> tf.data.Dataset:
    """Endless `(x, y, sample_weight)` masked-LM batches of counting rows."""
    rng = np.random.default_rng(seed)

    def one():
        start = rng.integers(5, VOCAB, size=(BATCH, 1))
        ids = 5 + (start - 5 + np.arange(LENGTH)[None]) % (VOCAB - 5)
        pos = np.stack([rng.choice(LENGTH, MASKS, replace=False) for _ in range(BATCH)])
        y = np.take_along_axis(ids, pos, 1)
        x = ids.copy()
        np.put_along_axis(x, pos, MASK_ID, 1)
        return ({"token_ids": x.astype("int32"), "segment_ids": np.zeros_like(x, "int32"),
                 "padding_mask": np.ones_like(x, bool), "mask_positions": pos.astype("int32")},
                y.astype("int32"), np.ones_like(y, "float32"))

    spec = ({"token_ids": tf.TensorSpec((BATCH, LENGTH), tf.int32),
             "segment_ids": tf.TensorSpec((BATCH, LENGTH), tf.int32),
             "padding_mask": tf.TensorSpec((BATCH, LENGTH), tf.bool),
             "mask_positions": tf.TensorSpec((BATCH, MASKS), tf.int32)},
            tf.TensorSpec((BATCH, MASKS), tf.int32), tf.TensorSpec((BATCH, MASKS), tf.float32))
    return tf.data.Dataset.from_generator(lambda: (one() for _ in iter(int, 1)),
                                          output_signature=spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", choices=("electra", "mlm"), default="electra")
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--rtd_weight", type=float, default=50.0)
    parser.add_argument("--no_clip", action="store_true")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps_per_epoch", type=int, default=50)
    parser.add_argument("--warmup_epochs", type=int, default=0,
                        help="ELECTRA: first epochs train masked-LM (the warmup).")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=4, hidden_dim=128,
        intermediate_dim=512, max_sequence_length=LENGTH, dropout=0.0)
    optimizer = keras.optimizers.AdamW(
        args.learning_rate, global_clipnorm=None if args.no_clip else 1.0)
    if args.objective == "mlm":
        model = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")])
    else:
        model = ElectraPretrainer(backbone, seed=0, rtd_weight=args.rtd_weight)
        model.compile(optimizer=optimizer)
    data = counting_batches()
    if args.objective == "electra" and args.warmup_epochs:
        model.masked_lm_warmup = True
        warm = model.fit(data, steps_per_epoch=args.steps_per_epoch,
                         epochs=args.warmup_epochs, verbose=0).history
        for epoch in range(args.warmup_epochs):
            print(f"step {(epoch + 1) * args.steps_per_epoch} (masked-LM warmup): "
                  f"generator accuracy {warm['generator_accuracy'][epoch]:.4f}, "
                  f"backbone MLM accuracy {warm['discriminator_mlm_accuracy'][epoch]:.4f}")
        model.masked_lm_warmup = False
    done = args.warmup_epochs if args.objective == "electra" else 0
    history = model.fit(data, steps_per_epoch=args.steps_per_epoch,
                        epochs=args.epochs, verbose=0).history
    for epoch in range(args.epochs):
        step = (done + epoch + 1) * args.steps_per_epoch
        if args.objective == "mlm":
            print(f"step {step}: MLM accuracy {history['accuracy'][epoch]:.4f} "
                  f"(chance {1 / (VOCAB - 5):.4f})")
            continue
        p = 1 - history["original_rate"][epoch]
        trivial = -(p * math.log(p) + (1 - p) * math.log(1 - p))
        print(f"step {step}: generator accuracy {history['generator_accuracy'][epoch]:.4f}, "
              f"discriminator loss {history['discriminator_loss'][epoch]:.4f} "
              f"(always-original entropy {trivial:.4f}), replaced accuracy "
              f"{history['replaced_accuracy'][epoch]:.4f}")


if __name__ == "__main__":
    main()
