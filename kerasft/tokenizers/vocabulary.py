"""Tokenizer training and the text preprocessing layers (WordPiece, SentencePiece).

The same preprocessing layer feeds pretraining, fine-tuning and every export,
so token ids can never drift between training and serving. Both layers are
built only from ops the TF Serving model server links (TF core plus tf.text's
table-based `BertTokenizer`, or tf.text's `SentencepieceTokenizer`), never
keras-hub's `FastWordpieceTokenizer` or `RoundRobinTrim` (see
`docs/tf-serving-contract.md` in the shared docs). `TextPreprocessor`
(WordPiece) and `SentencePiecePreprocessor` share one interface: `__call__`,
`tokenize`, `tokenize_words`, `pack`, the special ids, `vocabulary`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from absl import logging

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)


def train_wordpiece_vocabulary(
    texts: tf.data.Dataset | Iterable[str],
    vocabulary_size: int,
    *,
    lowercase: bool = True,
    reserved_tokens: Sequence[str] = SPECIAL_TOKENS,
    min_frequency: int = 2,
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

    Example:
    >>> vocab = train_wordpiece_vocabulary(["a tiny corpus"] * 20, 50)
    >>> vocab[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    """
    import time

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer

    missing = [t for t in SPECIAL_TOKENS if t not in reserved_tokens]
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
    basic = BasicTokenizer(lower_case=lowercase)

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
    learned = {code_points.decode(piece) for piece in tokenizer.get_vocab()}
    learned -= set(reserved_tokens)
    vocab = list(reserved_tokens) + sorted(learned)
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
    """Write a vocabulary one token a line (the `vocab.txt` format)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in vocabulary))


def pack_pieces(
    pieces: tf.RaggedTensor,
    *,
    sequence_length: int,
    cls_token_id: int,
    sep_token_id: int,
    pad_token_id: int,
    pad_to_longest: bool = True,
) -> dict[str, tf.Tensor]:
    """Trim ragged `[batch, pieces]`, add `[CLS]`/`[SEP]`, pad to dense.

    Covered ops only (`WaterfallTrimmer`, `combine_segments`): shared by both
    preprocessing layers so they pack identically.

    Args:
        pieces: int64 ragged ids `[batch, (pieces)]`.
        sequence_length: the maximum length, special tokens included.
        cls_token_id, sep_token_id, pad_token_id: the special ids.
        pad_to_longest: pad to the batch's longest row, not `sequence_length`.

    Example:
    >>> pack_pieces(tf.ragged.constant([[5, 6]], tf.int64), sequence_length=8,
    ...     cls_token_id=2, sep_token_id=3, pad_token_id=0)["token_ids"]
    """
    pieces = tf.cast(pieces, tf.int64)
    trimmed = tf_text.WaterfallTrimmer(sequence_length - 2).trim([pieces])
    token_ids, segment_ids = tf_text.combine_segments(
        trimmed,
        start_of_sequence_id=cls_token_id,
        end_of_segment_id=sep_token_id,
    )
    lengths = token_ids.row_lengths()
    width = (
        tf.reduce_max(tf.concat([lengths, [2]], 0))
        if pad_to_longest
        else tf.constant(sequence_length, tf.int64)
    )
    shape = tf.stack([tf.shape(lengths, out_type=tf.int64)[0], width])
    token_ids = token_ids.to_tensor(
        default_value=tf.constant(pad_token_id, tf.int64), shape=shape
    )
    segment_ids = segment_ids.to_tensor(shape=shape)
    padding_mask = tf.sequence_mask(lengths, width)
    return {
        "token_ids": tf.cast(token_ids, "int32"),
        "segment_ids": tf.cast(segment_ids, "int32"),
        "padding_mask": padding_mask,
    }


class _BertInputsLayer(keras.layers.Layer):
    """What both preprocessors share: special ids, packing and the Keras glue.

    Subclasses tokenize (`tokenize`, `tokenize_words`) and call
    `_init_bert_inputs` once they know their vocabulary.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        # Strings go straight to tf ops; Keras must not convert them.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    def _init_bert_inputs(
        self, vocabulary: list[str], sequence_length: int, pad_to_longest: bool
    ) -> None:
        if not isinstance(sequence_length, int) or sequence_length < 3:
            raise ValueError(
                "`sequence_length` must be an int >= 3 (room for [CLS], one "
                f"piece and [SEP]). Received: sequence_length={sequence_length!r}."
            )
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self.pad_to_longest = pad_to_longest
        index = {t: i for i, t in enumerate(vocabulary)}
        self.pad_token_id = index[PAD]
        self.unk_token_id = index[UNK]
        self.cls_token_id = index[CLS]
        self.sep_token_id = index[SEP]
        self.mask_token_id = index[MASK]

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    @property
    def special_token_ids(self) -> list[int]:
        return [
            self.pad_token_id,
            self.unk_token_id,
            self.cls_token_id,
            self.sep_token_id,
            self.mask_token_id,
        ]

    def pack(self, pieces: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """Trim ragged `[batch, pieces]`, add `[CLS]`/`[SEP]`, pad to dense."""
        return pack_pieces(
            pieces,
            sequence_length=self.sequence_length,
            cls_token_id=self.cls_token_id,
            sep_token_id=self.sep_token_id,
            pad_token_id=self.pad_token_id,
            pad_to_longest=self.pad_to_longest,
        )

    def call(self, text):
        text = tf.convert_to_tensor(text)
        if text.shape.rank == 0:
            text = text[tf.newaxis]
        return self.pack(self.tokenize(text))

    def compute_output_spec(self, text):
        # Shapes depend on the data; keep Keras' symbolic tracing happy.
        batch = text.shape[0] if hasattr(text, "shape") and text.shape else None
        spec = keras.KerasTensor((batch, None), dtype="int32")
        return {
            "token_ids": spec,
            "segment_ids": spec,
            "padding_mask": keras.KerasTensor((batch, None), dtype="bool"),
        }

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "pad_to_longest": self.pad_to_longest,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kerasft")
class TextPreprocessor(_BertInputsLayer):
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
        missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
        if missing:
            raise ValueError(
                "`vocabulary` must contain the BERT special tokens "
                f"{list(SPECIAL_TOKENS)}. Missing: {missing}. Train it with "
                "`kerasft.tokenizers.train_wordpiece_vocabulary` or add them."
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
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "lowercase": self.lowercase,
            }
        )
        return config


# SentencePiece's word-boundary marker (U+2581), which starts a word's
# first piece.
_WORD_BOUNDARY = "\u2581"


def _sentencepiece_proto(proto: bytes | str | os.PathLike):
    """Parse serialized SentencePiece model bytes, a file path, or base64."""
    import base64
    import binascii

    from sentencepiece import sentencepiece_model_pb2

    if isinstance(proto, os.PathLike) or (
        isinstance(proto, str) and os.path.isfile(proto)
    ):
        with open(proto, "rb") as f:
            proto = f.read()
    elif isinstance(proto, str):
        try:
            proto = base64.b64decode(proto.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ValueError(
                "`proto` must be serialized SentencePiece model bytes, the path "
                "of a `.spm`/`.model` file, or their base64 text. Received a "
                f"string that is neither a file nor base64: {proto[:80]!r}."
            ) from None
    if not isinstance(proto, (bytes, bytearray)):
        raise TypeError(
            "`proto` must be bytes, a file path or base64 text. Received: "
            f"proto of type {type(proto).__name__}."
        )
    model = sentencepiece_model_pb2.ModelProto()
    try:
        model.ParseFromString(bytes(proto))
    except Exception:  # protobuf raises its own DecodeError type
        model.Clear()
    if not model.pieces:
        raise ValueError(
            "`proto` is not a SentencePiece model (no pieces parsed). Train "
            "one with `kerasft.tokenizers.train_sentencepiece`."
        )
    return bytes(proto), model


def train_sentencepiece(
    texts: tf.data.Dataset | Iterable[str],
    vocabulary_size: int,
    *,
    lowercase: bool = True,
    model_type: str = "unigram",
) -> bytes:
    """Train a SentencePiece model with BERT special tokens, via keras-hub.

    keras-hub's `compute_sentence_piece_proto` reserves ids 0-3 for pad, unk,
    bos and eos; they are renamed `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and a
    user-defined `[MASK]` piece (id `vocabulary_size - 1`) is appended, so
    `[MASK]` written in text is one token (as `fill_mask` needs).

    Args:
        texts: a `tf.data.Dataset` of scalar strings, or an iterable of str.
        vocabulary_size: the vocabulary size, special tokens included.
        lowercase: case-fold inside the model's own normalizer
            (`nmt_nfkc_cf`), so serving needs no extra op.
        model_type: `"unigram"` or `"bpe"`.

    Returns:
        The serialized model proto (for `SentencePiecePreprocessor`).

    Example:
    >>> proto = train_sentencepiece(["a tiny corpus of text"] * 50, 30)
    """
    import keras_hub  # Imported here: only training needs it.

    if not isinstance(vocabulary_size, int) or vocabulary_size <= len(
        SPECIAL_TOKENS
    ):
        raise ValueError(
            "`vocabulary_size` must be an int larger than the number of "
            f"special tokens ({len(SPECIAL_TOKENS)}). "
            f"Received: vocabulary_size={vocabulary_size!r}."
        )
    if model_type not in ("unigram", "bpe"):
        raise ValueError(
            "`model_type` must be 'unigram' or 'bpe'. "
            f"Received: model_type={model_type!r}."
        )
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts)))
    try:
        proto = keras_hub.tokenizers.compute_sentence_piece_proto(
            texts,
            vocabulary_size=vocabulary_size - 1,
            model_type=model_type,
            lowercase=lowercase,
        )
    except RuntimeError as e:
        raise ValueError(
            f"SentencePiece training failed for vocabulary_size="
            f"{vocabulary_size}: {str(e).rstrip('.')}. For a small corpus, ask for a smaller "
            "`vocabulary_size`."
        ) from None
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(proto)
    for index, name in enumerate((PAD, UNK, CLS, SEP)):
        model.pieces[index].piece = name
    spec = model.trainer_spec
    spec.pad_piece, spec.unk_piece, spec.bos_piece, spec.eos_piece = (
        PAD, UNK, CLS, SEP,
    )
    mask = model.pieces.add()
    mask.piece = MASK
    mask.score = 0.0
    mask.type = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED
    return model.SerializeToString()


class _SharedSentencepieceResource(tf.saved_model.experimental.TrackableResource):
    """tf.text's SentencePiece model resource, under a shared name."""

    def __init__(self, model: bytes, shared_name: str):
        super().__init__()
        self._model = model
        self._shared_name = shared_name
        _ = self.resource_handle  # Creates the resource now, as tf.text does.

    def _create_resource(self):
        from tensorflow_text.python.ops.sentencepiece_tokenizer import (
            gen_sentencepiece_tokenizer,
        )

        return gen_sentencepiece_tokenizer.sentencepiece_op(
            model=self._model, shared_name=self._shared_name
        )


@keras.saving.register_keras_serializable(package="kerasft")
class SentencePiecePreprocessor(_BertInputsLayer):
    """Raw strings to BERT inputs with a SentencePiece model, serving-safe.

    The SentencePiece twin of `TextPreprocessor` (same outputs and methods):
    tokenizes with tf.text's `SentencepieceTokenizer` (a covered op; the
    model proto is a graph constant), then trims, adds `[CLS]`/`[SEP]` and
    pads exactly as `TextPreprocessor` does. Lowercasing, if any, is the
    model's own normalization rule.

    Args:
        proto: the serialized model (bytes), the path of a `.spm`/`.model`
            file, or its base64 text (as in `get_config`). Must contain the
            pieces `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]` (as
            `train_sentencepiece` makes).
        sequence_length: the maximum length, special tokens included.
        pad_to_longest: pad each batch to its longest row instead of to
            `sequence_length`.

    Example:
    >>> pre = SentencePiecePreprocessor(train_sentencepiece(texts, 500))
    >>> pre(tf.constant(["a b", "b"]))["token_ids"]  # doctest: +SKIP
    """

    def __init__(
        self,
        proto: bytes | str,
        sequence_length: int = 128,
        pad_to_longest: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.proto, model = _sentencepiece_proto(proto)
        vocabulary = [p.piece for p in model.pieces]
        missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
        if missing:
            raise ValueError(
                "`proto` must contain the BERT special tokens "
                f"{list(SPECIAL_TOKENS)} as pieces. Missing: {missing}. Train "
                "it with `kerasft.tokenizers.train_sentencepiece`."
            )
        self._init_bert_inputs(vocabulary, sequence_length, pad_to_longest)
        self.lowercase = model.normalizer_spec.name.endswith("_cf")
        normal = 1  # ModelProto.SentencePiece.NORMAL
        # A piece starts a word if it carries the boundary marker or is not
        # an ordinary piece (special and byte pieces stand alone).
        self._word_starts = tf.constant(
            [
                p.type != normal or p.piece.startswith(_WORD_BOUNDARY)
                for p in model.pieces
            ]
        )
        self._tokenizer = tf_text.SentencepieceTokenizer(
            model=self.proto, out_type=tf.int32
        )
        # tf.text's model resource is private to the op's kernel, which an
        # eager kernel-cache clear (`tf.random.set_seed` does one) destroys,
        # leaving pipelines with a dangling handle. A shared name keeps the
        # resource in the resource manager instead.
        self._tokenizer._model_resource = _SharedSentencepieceResource(
            self.proto, "kerasft_sentencepiece_" + hashlib.sha1(self.proto).hexdigest()
        )
        self.built = True

    @property
    def lookup_table(self) -> tf.Module:
        """The tokenizer resource (track it when exporting)."""
        return self._tokenizer

    def tokenize(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Strings `[batch]` to int64 pieces `[batch, pieces]`."""
        pieces = self._tokenizer.tokenize(tf.convert_to_tensor(text))
        # int64 like `TextPreprocessor` (the op itself only emits int32).
        return tf.cast(pieces, tf.int64)

    def _group_words(self, pieces, *others):
        """Regroup `[batch, pieces]` (and aligned tensors) into words."""
        starts = tf.gather(self._word_starts, pieces.flat_values)
        # The first piece of a text always starts a word.
        first = tf.equal(
            tf.range(tf.size(pieces.flat_values, out_type=tf.int64)),
            tf.gather(pieces.row_starts(), pieces.value_rowids()),
        )
        starts = tf.logical_or(starts, first)
        word_rows = tf.gather(pieces.value_rowids(), tf.where(starts)[:, 0])
        words_per_row = tf.math.bincount(
            word_rows, minlength=pieces.nrows(), maxlength=pieces.nrows(),
            dtype=tf.int64,
        )
        row_starts = tf.where(starts)[:, 0]

        def group(values):
            words = tf.RaggedTensor.from_row_starts(values, row_starts)
            return tf.RaggedTensor.from_row_lengths(words, words_per_row)

        return tuple(group(t.flat_values) for t in (pieces, *others))

    def tokenize_words(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Strings `[batch]` to int64 pieces `[batch, words, pieces]`."""
        return self._group_words(self.tokenize(text))[0]

    def tokenize_with_offsets(self, text: tf.Tensor):
        """Pieces plus each piece's byte offsets `[batch, words, pieces]`."""
        pieces, starts, ends = self._tokenizer.tokenize_with_offsets(
            tf.convert_to_tensor(text)
        )
        return self._group_words(tf.cast(pieces, tf.int64), starts, ends)

    def get_config(self) -> dict:
        import base64

        config = super().get_config()
        config.update(
            {
                "proto": base64.b64encode(self.proto).decode("ascii"),
            }
        )
        return config
