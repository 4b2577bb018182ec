"""Vocabulary extension: add a new domain's WordPiece pieces to a checkpoint's vocabulary.

A public checkpoint splits domain words into many pieces (`thou ##gh ##t`,
entity names, product codes). `extend_vocabulary` learns pieces from the new
corpus with the same learner a new tokenizer uses, keeps the most frequent
ones the checkpoint lacks (up to N), appends them (every old id unchanged)
and grows the token embedding by exactly those rows. A new row starts as
the mean of the embeddings of the pieces the old tokenizer gave its string,
so the extended model begins where the old one was on that text (the MLM
output layer is tied to the embedding and grows with it). Continued
pretraining then adapts the new rows with the rest of the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from kerasft.tokenizers import (
    SentencePiecePreprocessor,
    TextPreprocessor,
    train_wordpiece_vocabulary,
)
from kerasft.tokenizers.special_tokens import SPECIAL_TOKENS, UNK

CONTINUATION = "##"


def new_pieces(
    texts: tf.data.Dataset, vocabulary: Sequence[str], count: int, *, lowercase: bool
) -> list[str]:
    """Up to `count` WordPiece pieces learned from `texts` that `vocabulary` lacks.

    The learner's vocabulary holds every intermediate merge (`wh`, `wor`
    on the way to `would`), most of which greedy longest-match never uses
    beside a checkpoint that already spells the whole word. So every
    candidate is appended to `vocabulary`, `texts` are tokenized with that,
    and the `count` candidates used most often are kept (ties: the order
    the learner found them; never-used ones are dropped).

    Args:
        texts: the new corpus, scalar strings.
        vocabulary: the checkpoint's vocabulary.
        count: the most pieces to add.
        lowercase: the checkpoint tokenizer's casing.

    Example:
    >>> texts = tf.data.Dataset.from_tensor_slices(["thou art"] * 9)
    >>> new_pieces(texts, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "art"], 1,
    ...            lowercase=True)
    ['thou']
    """
    if count <= 0:
        raise ValueError(f"`count` must be > 0. Received: count={count!r}.")
    known = set(vocabulary)
    # Room for the corpus's common pieces (a checkpoint's worth, at least
    # 1,000: the alphabet alone can fill a small one) and `count` beyond them.
    learned = train_wordpiece_vocabulary(
        texts, max(len(vocabulary), 1000) + count, lowercase=lowercase,
        learned_order=True,
    )
    candidates = [p for p in learned[len(SPECIAL_TOKENS):] if p not in known]
    if not candidates:
        return []
    extended = TextPreprocessor(list(vocabulary) + candidates, lowercase=lowercase)
    first = len(vocabulary)
    uses = np.zeros(len(candidates), np.int64)
    for batch in texts.batch(1024):
        ids = extended.tokenize(batch).flat_values.numpy()
        ids = ids[ids >= first] - first
        uses += np.bincount(ids, minlength=len(candidates))
    ranked = sorted(range(len(candidates)), key=lambda i: (-uses[i], i))
    return [candidates[i] for i in ranked[:count] if uses[i] > 0]


def old_piece_ids(piece: str, index: dict[str, int]) -> list[int]:
    """The ids the old vocabulary's greedy longest-match WordPiece gives `piece`.

    A `##` piece is split as the middle of a word (every sub-piece a `##`
    piece), any other as a word start. Characters no sub-piece covers map to
    `[UNK]`.

    Example:
    >>> old_piece_ids("##eth", {"##e": 5, "##th": 6, "[UNK]": 1})
    [5, 6]
    """
    inner = piece.startswith(CONTINUATION) and len(piece) > len(CONTINUATION)
    text = piece[len(CONTINUATION):] if inner else piece
    ids, start = [], 0
    while start < len(text):
        for end in range(len(text), start, -1):
            candidate = text[start:end]
            if inner or start > 0:
                candidate = CONTINUATION + candidate
            if candidate in index:
                ids.append(index[candidate])
                start = end
                break
        else:
            ids.append(index[UNK])
            start += 1
    return ids


def grow_token_embedding(backbone, vocabulary: Sequence[str], added: Sequence[str]):
    """The same backbone with `len(added)` token-embedding rows appended.

    Every other weight is copied unchanged; each new row is the mean of the
    old rows `old_piece_ids` gives its piece.

    Args:
        backbone: a keras-hub `BertBackbone` over `vocabulary`.
        vocabulary: its vocabulary (row order).
        added: the pieces appended after it.
    """
    old_size = len(vocabulary)
    config = backbone.get_config()
    if config["vocabulary_size"] != old_size:
        raise ValueError(
            f"The backbone has {config['vocabulary_size']} token embeddings but "
            f"its vocabulary has {old_size} pieces; they must match to extend it."
        )
    grown = type(backbone).from_config(dict(config, vocabulary_size=old_size + len(added)))
    index = {piece: i for i, piece in enumerate(vocabulary)}
    table = backbone.token_embedding.embeddings
    old = np.asarray(table.numpy())
    rows = np.stack([old[old_piece_ids(p, index)].mean(axis=0) for p in added]) if added else (
        np.zeros((0, old.shape[1]), old.dtype))
    values = []
    for weight in backbone.weights:
        value = weight.numpy()
        if weight is table or weight.path == table.path:
            value = np.concatenate([value, rows.astype(value.dtype)])
        values.append(value)
    grown.set_weights(values)
    return grown


def pieces_per_word(preprocessor, texts: Sequence[str] | tf.data.Dataset) -> float:
    """Word pieces per whitespace-and-punctuation word of `texts` (no truncation).

    A word the vocabulary cannot spell is one `[UNK]` piece; see
    `unknown_rate`.

    Example:
    >>> pre = TextPreprocessor(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b"])
    >>> pieces_per_word(pre, ["ab a"])
    1.5
    """
    return _piece_counts(preprocessor, texts)[0]


def unknown_rate(preprocessor, texts: Sequence[str] | tf.data.Dataset) -> float:
    """The fraction of the word pieces of `texts` that are `[UNK]`.

    Example:
    >>> pre = TextPreprocessor(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
    >>> unknown_rate(pre, ["a z a z"])
    0.5
    """
    return _piece_counts(preprocessor, texts)[1]


def _piece_counts(preprocessor, texts) -> tuple[float, float]:
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    pieces = words = unknown = 0
    for batch in texts.batch(512):
        ragged = preprocessor.tokenize_words(batch)
        words += int(ragged.merge_dims(0, 1).nrows())
        pieces += int(tf.size(ragged.flat_values))
        unknown += int(tf.reduce_sum(tf.cast(
            ragged.flat_values == preprocessor.unk_token_id, tf.int32)))
    return pieces / max(words, 1), unknown / max(pieces, 1)


def extend_vocabulary(
    backbone,
    preprocessor: TextPreprocessor,
    texts: tf.data.Dataset,
    count: int,
    *,
    held_out: tf.data.Dataset | Sequence[str] | None = None,
):
    """Add up to `count` pieces of `texts` to a checkpoint's vocabulary and embedding.

    Args:
        backbone: the checkpoint's `BertBackbone`.
        preprocessor: its WordPiece `TextPreprocessor`.
        texts: the new corpus (scalar strings) the pieces are learned from.
        count: the most pieces to add.
        held_out: text on which pieces per word is measured before and after.

    Returns:
        `(backbone, preprocessor, record)`: the grown backbone, a preprocessor
        over the extended vocabulary (same casing and length) and what was
        done (sizes, pieces added, pieces per word before and after).

    Example:
    >>> backbone, pre, record = extend_vocabulary(backbone, pre, texts, 2000)  # doctest: +SKIP
    """
    if isinstance(preprocessor, SentencePiecePreprocessor) or not isinstance(
        preprocessor, TextPreprocessor
    ):
        raise ValueError(
            "Vocabulary extension needs a WordPiece checkpoint (a `vocab.txt`). "
            f"Received a {type(preprocessor).__name__}: a SentencePiece model "
            "cannot take appended pieces. Drop --extend_vocabulary."
        )
    vocabulary = list(preprocessor.vocabulary)
    added = new_pieces(texts, vocabulary, count, lowercase=preprocessor.lowercase)
    grown = grow_token_embedding(backbone, vocabulary, added)
    extended = TextPreprocessor(
        vocabulary + added, sequence_length=preprocessor.sequence_length,
        lowercase=preprocessor.lowercase, pad_to_longest=preprocessor.pad_to_longest,
    )
    record = {
        "requested": count,
        "added": len(added),
        "vocabulary_size_before": len(vocabulary),
        "vocabulary_size_after": len(vocabulary) + len(added),
        "first_pieces_added": added[:30],
    }
    if held_out is not None:
        for when, tokenizer in (("before", preprocessor), ("after", extended)):
            per_word, unknown = _piece_counts(tokenizer, held_out)
            record[f"pieces_per_word_{when}"] = round(per_word, 4)
            record[f"unknown_rate_{when}"] = round(unknown, 4)
    logging.info(
        "Extended the vocabulary by %d pieces (%d asked for): %d -> %d; "
        "pieces per held-out word %s -> %s.", len(added), count, len(vocabulary),
        len(vocabulary) + len(added), record.get("pieces_per_word_before"),
        record.get("pieces_per_word_after"),
    )
    return grown, extended, record
