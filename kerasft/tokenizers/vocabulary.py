"""WordPiece vocabularies: learn one from a corpus, read and write `vocab.txt`.

A vocabulary is a list of tokens whose index is the token id; on disk it is
`vocab.txt`, one token a line. `TextPreprocessor` tokenizes with it (and
every export ships a copy as `assets/vocab.txt`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import tensorflow as tf
from absl import logging

from kerasft import compat
from kerasft.atomic_files import write_text
from kerasft.tokenizers.special_tokens import (
    SPECIAL_TOKENS,
    UNK,
    missing_special_tokens,
)


def train_wordpiece_vocabulary(
    texts: tf.data.Dataset | Iterable[str],
    vocabulary_size: int,
    *,
    lowercase: bool = True,
    reserved_tokens: Sequence[str] = SPECIAL_TOKENS,
    min_frequency: int = 2,
    learned_order: bool = False,
) -> list[str]:
    """Learn a WordPiece vocabulary with Hugging Face `tokenizers` (Rust).

    Words are split exactly as the serving graph splits them (tf.text's
    BERT basic tokenizer: lowercasing and accent stripping when `lowercase`,
    punctuation split), so every piece learned is one that
    `TextPreprocessor`'s table-based WordPiece can produce; `tokenizers`
    only learns the pieces (seconds for 200k sentences, where keras-hub's
    pure-Python learner took minutes and dropped every piece seen fewer than
    10 times). Tokenization itself stays in tf.text, in training and serving.

    Args:
        texts: a `tf.data.Dataset` of scalar strings, or an iterable of str.
        vocabulary_size: the largest vocabulary wanted, special tokens
            included (a corpus with fewer distinct pieces gives fewer).
        lowercase: lowercase and strip accents, exactly as `TextPreprocessor`
            with `lowercase=True` does.
        reserved_tokens: tokens placed first; must contain the five BERT
            special tokens.
        min_frequency: a merge must be seen this often to become a piece.
        learned_order: keep the pieces in the order they were learned (the
            alphabet, then merges, most frequent first) instead of sorted;
            what vocabulary extension ranks new pieces by.

    Example:
    >>> vocab = train_wordpiece_vocabulary(["a tiny corpus"] * 20, 50)
    >>> vocab[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    """
    import time

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    missing = missing_special_tokens(reserved_tokens)
    if missing:
        raise ValueError(
            "`reserved_tokens` must include the BERT special tokens. "
            f"Received: reserved_tokens={list(reserved_tokens)}, missing "
            f"{missing}."
        )
    if not isinstance(vocabulary_size, int) or vocabulary_size <= len(
        reserved_tokens
    ):
        raise ValueError(
            "`vocabulary_size` must be an int larger than the number of "
            f"reserved tokens ({len(reserved_tokens)}). "
            f"Received: vocabulary_size={vocabulary_size!r}."
        )
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    basic = compat.bert_basic_tokenizer(lowercase)

    def words_of(batch):
        # One line of space-joined words per text: `tokenizers` then only
        # splits on the spaces tf.text put there.
        return tf.strings.reduce_join(basic.tokenize(batch), axis=-1, separator=" ")

    lines = texts.batch(1024).map(words_of, num_parallel_calls=tf.data.AUTOTUNE)

    # Every character after a word's first is renamed to a private-use code
    # point of its own, and plain BPE learns the merges: `tokenizers`'
    # WordPiece trainer gives `##` pieces ids in its per-process hash order,
    # which broke ties between equally frequent merges differently from run
    # to run (the same text learned different pieces).
    code_points = _PrivateCodePoints()

    def iterate():
        for batch in lines.as_numpy_iterator():
            yield [
                " ".join(code_points.encode(word) for word in line.split())
                for line in (row.decode("utf-8", errors="replace") for row in batch)
            ]

    start = time.time()
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocabulary_size,
        min_frequency=min_frequency,
        special_tokens=list(reserved_tokens),
        show_progress=False,
    )
    tokenizer.train_from_iterator(iterate(), trainer=trainer)
    # Sorted after the reserved tokens: WordPiece matching ignores ids.
    ids = tokenizer.get_vocab()
    learned = [code_points.decode(piece) for piece in sorted(ids, key=ids.get)]
    reserved = set(reserved_tokens)
    learned = [piece for piece in dict.fromkeys(learned) if piece not in reserved]
    vocab = list(reserved_tokens) + (learned if learned_order else sorted(learned))
    logging.info(
        "Trained a WordPiece vocabulary of %d pieces (%d asked for) in %.1fs.",
        len(vocab), vocabulary_size, time.time() - start,
    )
    if len(vocab) < vocabulary_size:
        logging.warning(
            "WordPiece vocabulary has %d tokens, fewer than the %d asked for: "
            "the corpus has no more pieces seen at least %d times.",
            len(vocab), vocabulary_size, min_frequency,
        )
    return vocab


class _PrivateCodePoints:
    """Renames word-internal characters so plain BPE learns `##` pieces."""

    _FIRST = 0xF0000  # Supplementary Private Use Area-A, then -B.

    def __init__(self):
        # `str.translate` calls `__missing__`, so unseen characters get the
        # next free code point in first-seen order (the text's order, which
        # is deterministic).
        self.initial = _Allocator(self, continuation=False)
        self.continuation = _Allocator(self, continuation=True)
        self.original: dict[str, tuple[str, bool]] = {}

    def allocate(self, char: str, continuation: bool) -> str:
        code = chr(self._FIRST + len(self.original))
        self.original[code] = (char, continuation)
        return code

    def encode(self, word: str) -> str:
        return word[:1].translate(self.initial) + word[1:].translate(self.continuation)

    def decode(self, piece: str) -> str:
        chars = [self.original.get(c, (c, False)) for c in piece]
        text = "".join(char for char, _ in chars)
        return "##" + text if chars and chars[0][1] else text


class _Allocator(dict):
    def __init__(self, owner: _PrivateCodePoints, continuation: bool):
        super().__init__()
        self.owner, self.is_continuation = owner, continuation

    def __missing__(self, code: int) -> str:
        char = chr(code)
        # Word-initial characters keep their code point unless it is one
        # of the private code points handed out here.
        if not self.is_continuation and code < _PrivateCodePoints._FIRST:
            self[code] = char
        else:
            self[code] = self.owner.allocate(char, self.is_continuation)
        return self[code]


def load_vocabulary(path: str | os.PathLike) -> list[str]:
    """Read a `vocab.txt` file (one token a line) into a list."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(
            f"Vocabulary file not found. Received: path={path!r}. Expected a "
            "text file with one token a line (e.g. a run's `vocab.txt`)."
        )
    with open(path, encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    while vocab and vocab[-1] == "":
        vocab.pop()
    return vocab


def save_vocabulary(vocabulary: Sequence[str], path: str | os.PathLike) -> None:
    """Write a vocabulary one token a line (the `vocab.txt` format), atomically."""
    write_text(path, "".join(token + "\n" for token in vocabulary))
