"""`TextPreprocessor`: raw text to BERT inputs with a WordPiece vocabulary.

Built only from ops the TF Serving model server links: TF core plus
tf.text's table-based `BertTokenizer`, never keras-hub's
`FastWordpieceTokenizer` (see `docs/tf-serving-contract.md` in the shared
docs).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from kerasft.tokenizers.bert_inputs import BertInputsLayer
from kerasft.tokenizers.special_tokens import UNK, check_special_tokens
from kerasft.tokenizers.vocabulary import load_vocabulary


@keras.saving.register_keras_serializable(package="kerasft")
class TextPreprocessor(BertInputsLayer):
    """Raw strings to BERT inputs, with TF Serving-safe ops only.

    Tokenizes with tf.text's table-based `BertTokenizer`, trims to
    `sequence_length - 2` pieces, adds `[CLS]`/`[SEP]` and pads. With
    `pad_to_longest=True` (the default) a batch is padded to its longest
    sequence rather than to `sequence_length`, which makes short-sentence
    batches much cheaper and gives identical outputs.

    Args:
        vocabulary: a list of tokens, or the path of a `vocab.txt`. Must
            contain `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]`.
        sequence_length: the maximum length, special tokens included.
        lowercase: lowercase and strip accents before WordPiece (must match
            how the vocabulary was trained).
        pad_to_longest: pad each batch to its longest row instead of to
            `sequence_length`.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]
    >>> pre = TextPreprocessor(vocab, sequence_length=8)
    >>> pre(tf.constant(["a b", "b"]))["token_ids"].numpy().tolist()
    [[2, 5, 6, 3], [2, 6, 3, 0]]
    """

    def __init__(
        self,
        vocabulary: Sequence[str] | str,
        sequence_length: int = 128,
        lowercase: bool = True,
        pad_to_longest: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = load_vocabulary(vocabulary)
        vocabulary = list(vocabulary)
        check_special_tokens(
            vocabulary,
            "vocabulary",
            "Train it with `kerasft.tokenizers.train_wordpiece_vocabulary` or "
            "add them.",
        )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError(
                "`vocabulary` has duplicate tokens; each token must appear "
                f"once. Received {len(vocabulary)} tokens, "
                f"{len(set(vocabulary))} distinct."
            )
        self._init_bert_inputs(vocabulary, sequence_length, pad_to_longest)
        self.lowercase = lowercase
        # A constant-initialized hash table: HashTableV2 and
        # LookupTableImportV2 are TF core ops, and the table travels with
        # both `.keras` files (via this config) and SavedModels.
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                keys=tf.constant(vocabulary),
                values=tf.range(len(vocabulary), dtype=tf.int64),
            ),
            default_value=tf.constant(self.unk_token_id, tf.int64),
        )
        self._tokenizer = tf_text.BertTokenizer(
            self._table,
            token_out_type=tf.int64,
            unknown_token=UNK,
            lower_case=lowercase,
        )
        self.built = True

    @property
    def lookup_table(self) -> tf.lookup.StaticHashTable:
        """The vocabulary table (track it when exporting)."""
        return self._table

    def tokenize_words(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Strings `[batch]` to int64 pieces `[batch, words, pieces]`."""
        return self._tokenizer.tokenize(tf.convert_to_tensor(text))

    def tokenize_with_offsets(self, text: tf.Tensor):
        """Word pieces plus each piece's byte offsets `[batch, words, pieces]`."""
        return self._tokenizer.tokenize_with_offsets(tf.convert_to_tensor(text))

    def tokenize(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Strings `[batch]` to int64 pieces `[batch, pieces]`."""
        return self.tokenize_words(text).merge_dims(-2, -1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "lowercase": self.lowercase,
        }
