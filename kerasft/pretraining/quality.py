"""How far above word frequencies a pretraining run got: the unigram
baseline of the held-out text, the plateau warning and the loss-curve plot.

A masked LM that ignores context can do no better than predicting the
token frequencies of the text; a run whose held-out loss ends near that
loss has not learned to use context (the "unigram plateau"), whatever its
loss fell from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from kerasft.atomic_files import atomic_path

# A run ending within this many nats of the unigram loss gets a warning.
PLATEAU_NATS = 0.3
LOSS_CURVE_PNG = "loss_curve.png"


def unigram_cross_entropy(
    counts: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Loss and accuracy of the unigram model `counts` on `targets`.

    The unigram model is the text's own token frequencies (add-one
    smoothed over the tokens it has, so every target has a probability);
    its accuracy is that of always answering the most frequent token.

    Args:
        counts: token id -> count, a 1-D array as long as the vocabulary.
        targets: the token ids to predict (any shape).
        weights: optional weight per target (0 drops it).

    Example:
    >>> r = unigram_cross_entropy(np.array([0, 3, 1]), np.array([1, 1, 2]))
    >>> round(r["loss"], 4), round(r["accuracy"], 4)  # p = 4/6, 4/6, 2/6
    (0.6365, 0.6667)
    """
    counts = np.asarray(counts, dtype=np.float64)
    targets = np.asarray(targets).reshape(-1)
    weights = (
        np.ones_like(targets, dtype=np.float64)
        if weights is None
        else np.asarray(weights, dtype=np.float64).reshape(-1)
    )
    seen = counts > 0
    probabilities = np.where(seen, counts + 1.0, 0.0)
    probabilities /= probabilities.sum()
    # A target the text never showed (impossible when `counts` come from the
    # same text) gets the smallest probability rather than infinity.
    p = np.maximum(probabilities[targets], probabilities[seen].min())
    total = weights.sum()
    return {
        "loss": float(-(weights * np.log(p)).sum() / total),
        "accuracy": float((weights * (targets == counts.argmax())).sum() / total),
    }


def unigram_baseline(
    batches: Iterable, vocabulary_size: int, special_token_ids: Sequence[int]
) -> dict[str, float]:
    """The unigram loss of held-out masked-LM batches.

    Counts every real (non-padding, non-special) token of the original
    held-out text, then scores the very masked targets the model is scored
    on (the same cached batches), so the two losses compare directly.

    Args:
        batches: `(x, y, sample_weight)` masked-LM batches (as
            `kerasft.pretraining.mlm.mlm_dataset` yields).
        vocabulary_size: the tokenizer's vocabulary size.
        special_token_ids: ids never counted as text ([CLS], [SEP], ...).

    Example:
    >>> unigram_baseline(val_ds, 8000, [0, 2, 3, 4])  # doctest: +SKIP
    """
    counts = np.zeros(vocabulary_size, dtype=np.int64)
    targets, weights = [], []
    special = np.asarray(sorted(set(special_token_ids)))
    for x, y, w in batches:
        ids = np.array(x["token_ids"])
        positions = np.asarray(x["mask_positions"])
        y, w = np.asarray(y), np.asarray(w)
        rows = np.repeat(np.arange(ids.shape[0])[:, None], positions.shape[1], 1)
        real = w > 0
        # Put the originals back where the batch shows [MASK] or a random id.
        ids[rows[real], positions[real]] = y[real]
        keep = np.asarray(x["padding_mask"]).astype(bool) & ~np.isin(ids, special)
        counts += np.bincount(ids[keep], minlength=vocabulary_size)
        targets.append(y[real])
        weights.append(w[real])
    if not targets:
        raise ValueError("No held-out batches to compute a unigram baseline from.")
    return unigram_cross_entropy(
        counts, np.concatenate(targets), np.concatenate(weights)
    )


def plateau_warning(after_loss: float, unigram_loss: float) -> str | None:
    """A plain-words warning when a run ended near the unigram loss, else None."""
    if after_loss <= unigram_loss - PLATEAU_NATS:
        return None
    where = (
        f"within {PLATEAU_NATS} nats of" if after_loss <= unigram_loss else "above"
    )
    return (
        f"The backbone has barely learned: its held-out masked-LM loss "
        f"({after_loss:.3f}) is {where} the loss of word frequencies alone on "
        f"the same text ({unigram_loss:.3f}). Raise --steps (or --max_seconds) "
        "or add more text."
    )


def plot_loss_curve(
    path: str,
    steps: Sequence[int],
    train_loss: Sequence[float],
    *,
    held_out: dict[int, float] | None = None,
    unigram_loss: float | None = None,
    title: str = "Pretraining loss",
) -> None:
    """Write a PNG of the training loss per step, held-out points and the
    unigram line (written to a temporary name, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if len(train_loss):
        ax.plot(steps, train_loss, marker="o", markersize=3, label="train loss")
    if held_out:
        ax.plot(list(held_out), list(held_out.values()), "s", color="C1",
                label="held-out loss")
    if unigram_loss is not None:
        ax.axhline(unigram_loss, color="grey", linestyle="--",
                   label=f"unigram ({unigram_loss:.2f})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("masked-LM loss (nats)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:  # keeps the .png extension savefig reads
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
