"""Dynamic masked-LM masking, per sub-word piece or per whole word.

Masking runs on the *final* sequences: after `[CLS]`/`[SEP]` are added,
documents are packed (see `kerasft.pretraining.packing`) and rows are padded.
So `mask_positions` index exactly the `token_ids` the model sees, a fresh
mask is drawn every time a batch goes through the pipeline (dynamic masking,
as in RoBERTa), and special tokens are kept out simply by listing them in
`unselectable_token_ids`.

Selection follows Google's original BERT `create_pretraining_data.py`: each
sequence gets a budget of `min(max_selections, max(1, round(n * rate)))`
pieces, where `n` counts its selectable pieces; candidate words (a piece is
its own word for sub-word masking) are shuffled and taken in that order,
skipping any word whose pieces would overflow the budget. For sub-word
masking the budget is met exactly; for whole-word masking it can fall short
by less than the shortest word left out, so a little fewer than
`mask_selection_rate` of the pieces are selected. Every
selected piece then independently becomes `[MASK]` (`mask_token_rate`), a
random id from the whole vocabulary (`random_token_rate`) or stays as it is.

The ops are tf.text's `mask_language_model` (what
`keras_hub.layers.MaskedLMMaskGenerator` wraps) with a seedable selector and
values chooser; everything is graph-mode TensorFlow, for `tf.data.map`.

Seeds: an int seeds stateful random ops (reproducible for a rebuilt pipeline
with a sequential `map`); a shape-`[2]` int tensor makes every draw
stateless, so a batch's masks are a pure function of that seed. Pretraining
passes `(seed, batch_index)`, which is what makes `--resume` bit-exact on the
data side, even with a parallel `map`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import tensorflow as tf
import tensorflow_text as tf_text

# Sort keys for the word shuffle: real keys are in [0, 1).
_UNSELECTABLE_KEY = 2.0
_PADDING_KEY = 3.0


def _is_stateless(seed) -> bool:
    return seed is not None and not isinstance(seed, numbers.Integral)


def _uniform(shape, seed, salt, **kwargs):
    """`tf.random.uniform`, stateless when `seed` is a `[2]` tensor."""
    if _is_stateless(seed):
        seed = tf.random.experimental.stateless_fold_in(
            tf.cast(seed, tf.int64), salt
        )
        return tf.random.stateless_uniform(shape, seed=seed, **kwargs)
    return tf.random.uniform(
        shape, seed=None if seed is None else seed + salt, **kwargs
    )


def _fill_budget(lengths, budget):
    """Takes words in order while they fit, skipping those that overflow.

    Each pass takes the longest prefix of still-fitting words; passes repeat
    until no word fits the remaining budget (one pass for one-piece words).
    """

    def fitting(chosen, left):
        return tf.logical_and(
            tf.logical_not(chosen),
            tf.logical_and(lengths > 0, lengths <= left[:, tf.newaxis]),
        )

    def take_prefix(chosen, left):
        fits = fitting(chosen, left)
        used = tf.cumsum(tf.where(fits, lengths, 0), axis=1)
        take = tf.logical_and(fits, used <= left[:, tf.newaxis])
        left -= tf.reduce_sum(tf.where(take, lengths, 0), axis=1)
        return tf.logical_or(chosen, take), left

    chosen, _ = tf.while_loop(
        lambda chosen, left: tf.reduce_any(fitting(chosen, left)),
        take_prefix,
        (tf.zeros_like(lengths, dtype=tf.bool), budget),
    )
    return chosen


class _BudgetedWordSelector(tf_text.RandomItemSelector):
    """Selects random whole words while their pieces fit a per-row budget.

    Expects `[batch, (words), (pieces)]` ids and `axis=1`. (tf.text's own
    selector caps words, not pieces, and rounds the count up.)
    """

    def __init__(self, selection_rate, max_selections, unselectable_ids, seed):
        super().__init__(
            max_selections_per_batch=max_selections,
            selection_rate=selection_rate,
            unselectable_ids=list(unselectable_ids),
        )
        self._seed = seed

    def get_selection_mask(self, input_ids, axis):
        selectable = self.get_selectable(input_ids, axis)
        word_lengths = tf.cast(input_ids.row_lengths(axis=2), tf.int32)
        candidate_lengths = tf.where(
            selectable.flat_values, word_lengths.flat_values, 0
        )
        candidate_lengths = selectable.with_flat_values(candidate_lengths)

        num_selectable = tf.cast(
            tf.reduce_sum(candidate_lengths, axis=1), tf.float32
        )
        # Round half up (tf.round is banker's rounding); BERT masks at least
        # one piece of any non-empty sequence.
        budget = tf.floor(num_selectable * self.selection_rate + 0.5)
        if self.selection_rate > 0:
            budget = tf.maximum(budget, tf.minimum(num_selectable, 1.0))
        budget = tf.minimum(budget, float(self.max_selections_per_batch))
        budget = tf.cast(budget, tf.int32)

        keys = _uniform(tf.shape(selectable.flat_values), self._seed, 0)
        keys = tf.where(selectable.flat_values, keys, _UNSELECTABLE_KEY)
        keys = selectable.with_flat_values(keys).to_tensor(_PADDING_KEY)
        order = tf.argsort(keys, axis=1)
        shuffled_lengths = tf.gather(
            candidate_lengths.to_tensor(0), order, batch_dims=1
        )
        chosen = _fill_budget(shuffled_lengths, budget)
        # Undo the shuffle: argsort of a permutation is its inverse.
        chosen = tf.gather(chosen, tf.argsort(order, axis=1), batch_dims=1)
        return tf.RaggedTensor.from_tensor(
            chosen, lengths=selectable.row_lengths()
        )


class _SeededMaskValuesChooser(tf_text.MaskValuesChooser):
    """tf.text's 80/10/10 chooser with seedable random ops."""

    def __init__(self, vocab_size, mask_token, mask_token_rate,
                 random_token_rate, seed):
        super().__init__(
            vocab_size,
            mask_token,
            mask_token_rate=mask_token_rate,
            random_token_rate=random_token_rate,
        )
        self._seed = seed

    def get_mask_values(self, masked_lm_ids):
        ids = masked_lm_ids.flat_values
        draw = _uniform(tf.shape(ids), self._seed, 1)
        random_ids = _uniform(
            tf.shape(ids), self._seed, 2, maxval=self.vocab_size,
            dtype=ids.dtype,
        )
        use_mask = draw < self._mask_token_rate
        use_random = tf.logical_and(
            draw >= self._mask_token_rate,
            draw < self._mask_token_rate + self.random_token_rate,
        )
        values = tf.where(use_random, random_ids, ids)
        values = tf.where(use_mask, tf.cast(self.mask_token, ids.dtype), values)
        return masked_lm_ids.with_flat_values(values)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0.0 <= value <= 1.0
    ):
        raise ValueError(
            f"`{name}` must be a float in [0, 1]. Received: {name}={value!r}."
        )


def _check_arguments(
    vocabulary_size,
    mask_token_id,
    unselectable_token_ids,
    mask_selection_rate,
    mask_token_rate,
    random_token_rate,
    max_selections,
):
    if not _is_int(vocabulary_size) or vocabulary_size < 1:
        raise ValueError(
            "`vocabulary_size` must be a positive int. "
            f"Received: vocabulary_size={vocabulary_size!r}."
        )
    if not _is_int(mask_token_id) or not 0 <= mask_token_id < vocabulary_size:
        raise ValueError(
            "`mask_token_id` must be an int in [0, vocabulary_size). "
            f"Received: mask_token_id={mask_token_id!r}, "
            f"vocabulary_size={vocabulary_size}."
        )
    if isinstance(unselectable_token_ids, (str, bytes)) or not isinstance(
        unselectable_token_ids, Sequence
    ) or not all(_is_int(i) for i in unselectable_token_ids):
        raise TypeError(
            "`unselectable_token_ids` must be a list of ints (e.g. the "
            "[PAD], [CLS], [SEP] and [MASK] ids). "
            f"Received: unselectable_token_ids={unselectable_token_ids!r}."
        )
    _check_rate("mask_selection_rate", mask_selection_rate)
    _check_rate("mask_token_rate", mask_token_rate)
    _check_rate("random_token_rate", random_token_rate)
    if mask_token_rate + random_token_rate > 1.0:
        raise ValueError(
            "`mask_token_rate + random_token_rate` must be at most 1 (the "
            "rest of the selected tokens stay unchanged). Received: "
            f"mask_token_rate={mask_token_rate}, "
            f"random_token_rate={random_token_rate}."
        )
    if not _is_int(max_selections) or max_selections < 1:
        raise ValueError(
            "`max_selections` must be a positive int (the width of "
            "`mask_positions`). "
            f"Received: max_selections={max_selections!r}."
        )


def _as_word_pieces(token_ids, whole_word):
    """Returns int32 `[batch, (words), (pieces)]` ids and whether dense."""
    if not isinstance(token_ids, tf.RaggedTensor):
        token_ids = tf.convert_to_tensor(token_ids)
    if not token_ids.dtype.is_integer:
        raise TypeError(
            "`token_ids` must hold integer ids. "
            f"Received: token_ids.dtype={token_ids.dtype.name}."
        )
    rank = token_ids.shape.rank
    dense = not isinstance(token_ids, tf.RaggedTensor)
    if dense and rank != 2:
        raise ValueError(
            "Dense `token_ids` must have shape `[batch, sequence_length]`. "
            f"Received: token_ids.shape={token_ids.shape}."
        )
    if not dense and rank not in (2, 3):
        raise ValueError(
            "Ragged `token_ids` must be `[batch, (pieces)]` or "
            f"`[batch, (words), (pieces)]`. Received: rank {rank}."
        )
    if whole_word and rank != 3:
        raise ValueError(
            "`whole_word=True` needs the word structure: ragged `token_ids` "
            "of shape `[batch, (words), (pieces)]` (e.g. "
            "`tf_text.BertTokenizer.tokenize` output, or "
            "`kerasft.pretraining.packing.word_pieces` for packed batches). "
            f"Received: token_ids of rank {rank}."
        )
    token_ids = tf.cast(token_ids, tf.int32)
    if dense:
        token_ids = tf.RaggedTensor.from_tensor(token_ids)
    if rank == 3 and not whole_word:
        token_ids = token_ids.merge_dims(1, 2)
    if token_ids.ragged_rank == 1:
        # Sub-word masking is whole-word masking with one-piece words.
        token_ids = tf.RaggedTensor.from_row_lengths(
            tf.RaggedTensor.from_uniform_row_length(token_ids.values, 1),
            token_ids.row_lengths(),
        )
    return token_ids, dense


# Plain TF ops throughout: autograph would only re-parse tf.text's sources
# (seconds per trace) for nothing.
@tf.autograph.experimental.do_not_convert
def mask_tokens(
    token_ids: tf.Tensor | tf.RaggedTensor,
    *,
    vocabulary_size: int,
    mask_token_id: int,
    unselectable_token_ids: Sequence[int],
    mask_selection_rate: float = 0.15,
    mask_token_rate: float = 0.8,
    random_token_rate: float = 0.1,
    max_selections: int,
    whole_word: bool = False,
    seed: int | tf.Tensor | None = None,
) -> dict[str, tf.Tensor | tf.RaggedTensor]:
    """Apply BERT's dynamic masked-LM masking to a batch of sequences.

    Call it on final sequences (with `[CLS]`/`[SEP]`, packed and padded) so
    positions index what the model sees; put the padding, `[CLS]`, `[SEP]`
    and `[MASK]` ids in `unselectable_token_ids`. Graph-mode only ops: use
    it inside `tf.data.Dataset.map`.

    Args:
        token_ids: int ids, one of: dense `[batch, sequence_length]` (the
            padding id must be unselectable), ragged `[batch, (pieces)]`, or
            ragged `[batch, (words), (pieces)]` (words are merged unless
            `whole_word=True`).
        vocabulary_size: the number of ids; random replacements are drawn
            from `[0, vocabulary_size)`.
        mask_token_id: the `[MASK]` id.
        unselectable_token_ids: ids that are never selected. With
            `whole_word=True`, a word containing one is never selected.
        mask_selection_rate: the fraction of selectable pieces selected.
        mask_token_rate: the fraction of selected pieces set to `[MASK]`.
        random_token_rate: the fraction of selected pieces set to a random
            id; the rest stay unchanged.
        max_selections: the most pieces selected per sequence, and the width
            of `mask_positions`, `mask_ids` and `mask_weights`.
        whole_word: select whole words (all their pieces or none), from
            `[batch, (words), (pieces)]` input.
        seed: an int seeds the random ops (a pipeline rebuilt with the
            same seed and a sequential `map` draws the same masks); a
            shape-`[2]` int tensor makes the masks a pure function of it
            (stateless ops, e.g. `(seed, batch_index)`).

    Returns:
        A dict, in the format `keras_hub.models.BertMaskedLM` trains on:
        `token_ids` (int32, dense if the input was dense, else ragged
        `[batch, (pieces)]`), and `mask_positions` (int32), `mask_ids`
        (int32, the original ids) and `mask_weights` (float32, 1 for a real
        selection, 0 for padding), all dense `[batch, max_selections]`.

    Example:
    >>> ids = tf.constant([[2, 7, 8, 9, 10, 11, 3, 0]])
    >>> out = mask_tokens(ids, vocabulary_size=20, mask_token_id=4,
    ...     unselectable_token_ids=[0, 2, 3, 4], max_selections=2, seed=1)
    >>> out["mask_positions"].shape
    TensorShape([1, 2])
    """
    _check_arguments(
        vocabulary_size,
        mask_token_id,
        unselectable_token_ids,
        mask_selection_rate,
        mask_token_rate,
        random_token_rate,
        max_selections,
    )
    words, dense = _as_word_pieces(token_ids, whole_word)
    max_selections = int(max_selections)
    selector = _BudgetedWordSelector(
        mask_selection_rate,
        max_selections,
        [int(i) for i in unselectable_token_ids],
        seed,
    )
    chooser = _SeededMaskValuesChooser(
        int(vocabulary_size),
        int(mask_token_id),
        mask_token_rate,
        random_token_rate,
        seed,
    )
    masked, positions, mask_ids = tf_text.mask_language_model(
        words, item_selector=selector, mask_values_chooser=chooser, axis=1
    )
    shape = [None, max_selections]
    mask_weights = tf.ones_like(positions, tf.float32).to_tensor(shape=shape)
    if dense:
        masked = masked.to_tensor(shape=tf.shape(token_ids))
    return {
        "token_ids": masked,
        "mask_positions": tf.cast(positions, tf.int32).to_tensor(shape=shape),
        "mask_ids": mask_ids.to_tensor(shape=shape),
        "mask_weights": mask_weights,
    }


@tf.autograph.experimental.do_not_convert
def masked_lm_example(
    features: dict[str, tf.Tensor],
    *,
    vocabulary_size: int,
    mask_token_id: int,
    unselectable_token_ids: Sequence[int],
    max_selections: int,
    mask_selection_rate: float = 0.15,
    mask_token_rate: float = 0.8,
    random_token_rate: float = 0.1,
    whole_word: bool = False,
    seed: int | tf.Tensor | None = None,
) -> tuple[dict[str, tf.Tensor], tf.Tensor, tf.Tensor]:
    """Mask a packed batch into `(x, y, sample_weight)` for `BertMaskedLM`.

    Padding is never selected (whatever `unselectable_token_ids` says), and
    keeps its original ids.

    Args:
        features: a batch from `kerasft.pretraining.packing.pack_dataset`:
            dense `token_ids`, `segment_ids`, `padding_mask` and, for
            `whole_word=True`, `word_ids`.
        vocabulary_size, mask_token_id, unselectable_token_ids,
        max_selections, mask_selection_rate, mask_token_rate,
        random_token_rate, whole_word, seed: as for `mask_tokens`.

    Example:
    >>> ds = ds.map(functools.partial(masked_lm_example, vocabulary_size=4000,
    ...     mask_token_id=4, unselectable_token_ids=[0, 2, 3, 4],
    ...     max_selections=20, whole_word=True))  # doctest: +SKIP
    """
    # Late import keeps the modules one-way: packing never needs masking.
    from kerasft.pretraining.packing import word_pieces

    token_ids = tf.cast(features["token_ids"], tf.int32)
    padding_mask = tf.cast(features["padding_mask"], tf.bool)
    if whole_word:
        if "word_ids" not in features:
            raise ValueError(
                "`whole_word=True` needs `features['word_ids']` (as "
                "`pack_dataset` emits). Received: features with keys "
                f"{sorted(features)}."
            )
        pieces = word_pieces(token_ids, features["word_ids"], padding_mask)
    else:
        pieces = tf.RaggedTensor.from_tensor(
            token_ids, lengths=tf.reduce_sum(tf.cast(padding_mask, tf.int32), 1)
        )
    masked = mask_tokens(
        pieces,
        vocabulary_size=vocabulary_size,
        mask_token_id=mask_token_id,
        unselectable_token_ids=unselectable_token_ids,
        mask_selection_rate=mask_selection_rate,
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
        max_selections=max_selections,
        whole_word=whole_word,
        seed=seed,
    )
    # Padding sits at the tail, so the ragged rows line up with the dense
    # ones; padding keeps its original ids.
    masked_ids = masked["token_ids"].to_tensor(shape=tf.shape(token_ids))
    x = {
        "token_ids": tf.where(padding_mask, masked_ids, token_ids),
        "segment_ids": tf.cast(features["segment_ids"], tf.int32),
        "padding_mask": padding_mask,
        "mask_positions": masked["mask_positions"],
    }
    return x, masked["mask_ids"], masked["mask_weights"]
