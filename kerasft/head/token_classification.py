"""Token classification: one tag per word, entity spans at serving time."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasft import token_alignment
from kerasft.atomic_files import write_text
from kerasft.head.base import Head, epoch_batches, features_dataset
from kerasft.metrics.entity_metrics import EntityMetrics, conlleval, format_table
from kerasft.tokenizers import TextPreprocessor


@keras.saving.register_keras_serializable(package="kerasft")
class MaskedAccuracy(keras.metrics.Mean):
    """Accuracy of sparse predictions over positions whose target is not ignored.

    Args:
        ignore_class: the target value of positions to skip (sub-word pieces,
            `[CLS]`, `[SEP]` and padding in token classification).
        name: the metric name.
        dtype: the metric dtype.

    Example:
    >>> m = MaskedAccuracy()
    >>> m.update_state([[1, -1, 0]], [[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    >>> float(m.result())
    0.5
    """

    def __init__(self, ignore_class: int = -1, name: str = "accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ignore_class = ignore_class

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.cast(y_true, "int32")
        predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
        valid = keras.ops.cast(keras.ops.not_equal(y_true, self.ignore_class), "float32")
        if sample_weight is not None:
            valid = valid * keras.ops.cast(sample_weight, "float32")
        correct = keras.ops.cast(keras.ops.equal(predicted, y_true), "float32")
        return super().update_state(correct, sample_weight=valid)

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_class": self.ignore_class}


@dataclasses.dataclass
class TokenEncoding:
    """Token ids and piece-level targets of tagged sentences (see `encode_pieces`).

    Args:
        token_ids: one int32 array per sentence, `[CLS]` and `[SEP]` included.
        targets: one int32 array per sentence, same length: the word's label
            id on its first piece, -1 elsewhere.
        num_words: words per sentence.
        truncated_words: words cut off by `sequence_length` (no target).
        truncated_sentences: sentences with at least one cut word.

    Example:
    >>> enc = TokenClassificationHead(["O", "B-PER", "I-PER"]).encode_pieces(sentences, pre)  # doctest: +SKIP
    >>> enc.truncated_words  # doctest: +SKIP
    0
    """

    token_ids: list
    targets: list
    num_words: list
    truncated_words: int
    truncated_sentences: int


@keras.saving.register_keras_serializable(package="kerasft")
class TokenClassificationHead(Head):
    """Token classification: one tag per word, entity spans at serving time.

    Reads the backbone's `sequence_output` and predicts a tag for every word
    piece; a word's tag is read from its first piece (the other pieces are
    masked out of loss and metrics). Words are CoNLL tokens in training and
    the whitespace split of the raw string in serving, each tokenized on its
    own (see `kerasft.token_alignment`). Sentences longer than the
    preprocessor's `sequence_length` are truncated: the cut words are counted
    and logged, not trained on, served as `"O"` with score 0, and scored as
    predicted `"O"` in `evaluate`.

    Examples are any objects with `tokens` and `tags` sequences (e.g.
    `kerasft.data.conll.Sentence`); tags are `"O"` or `B-`/`I-` (or BIOES
    `E-`/`S-`) plus a type. Serving outputs (dense, batch-major): `words`,
    `word_start`, `word_end` (character offsets, end exclusive), `tags`,
    `tag_scores`, `num_words`, `entity_text`, `entity_type`, `entity_start`,
    `entity_end` (character offsets, end exclusive; an invalid UTF-8
    sequence counts as one character, see
    `token_alignment.byte_to_char_offsets`), `entity_score` (mean
    probability of the entity's word tags) and `num_entities`. Entities are
    grouped from the predicted tags exactly as `conlleval` groups them.

    Args:
        labels: the tags, in output order; must include `"O"`.
        dropout: dropout before the output layer.
        name: the layer name (defaults to the registered head name).

    Example:
    >>> head = TokenClassificationHead(["O", "B-PER", "I-PER"])
    """

    feature = "sequence_output"
    target_kind = "token"
    primary_metric = "f1"
    summary_metrics = ("accuracy", "f1")

    def __init__(
        self,
        labels: Sequence[str],
        dropout: float = 0.1,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(labels=labels, dropout=dropout, name=name, **kwargs)
        if "O" not in self.labels:
            raise ValueError(
                "`labels` must include the outside tag 'O' (words outside any "
                f"entity, and words cut off by truncation). Received: "
                f"labels={self.labels}."
            )
        self._prefix_codes, self.entity_types, self._type_ids = (
            token_alignment.label_codes(self.labels)
        )
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        self.output_dense = keras.layers.Dense(
            self.num_labels, name="logits", dtype="float32"
        )

    def build(self, features_shape):
        hidden = features_shape["sequence_output"][-1]
        self.output_dense.build((None, None, hidden))
        self.built = True

    def call(self, features, training=None):
        x = features["sequence_output"]
        return self.output_dense(self.dropout_layer(x, training=training))

    def compute_output_shape(self, features_shape):
        batch, length = features_shape["sequence_output"][:2]
        return (batch, length, self.num_labels)

    # --- data ---------------------------------------------------------
    @classmethod
    def labels_from_examples(cls, examples) -> list[str]:
        """`"O"`, then `B-`/`I-` (plus `E-`/`S-` if used) for each type, sorted.

        Both prefixes of every type are included even if train lacks one, so
        a valid tag in validation or test data is never unknown.
        """
        types, bioes = set(), False
        for example in examples:
            for tag in example.tags:
                if tag == "O":
                    continue
                prefix, _, entity_type = tag.partition("-")
                types.add(entity_type or tag)
                bioes |= prefix in ("E", "S")
        prefixes = ("B", "I", "E", "S") if bioes else ("B", "I")
        return ["O"] + [f"{p}-{t}" for t in sorted(types) for p in prefixes]

    @classmethod
    def example_text(cls, example) -> str:
        return " ".join(example.tokens)

    def encode(self, examples):
        """Examples to `(words, tag_ids)`: token tuples and int32 arrays."""
        index = {label: i for i, label in enumerate(self.labels)}
        words, tag_ids = [], []
        for e in examples:
            for offset, tag in enumerate(e.tags):
                if tag not in index:
                    raise ValueError(
                        f"{e.source}, line {e.line + offset}: tag {tag!r} was "
                        f"never seen in the train data. Known tags: "
                        f"{self.labels}. Fix the tag or add examples of it to "
                        "train."
                    )
            words.append(tuple(e.tokens))
            tag_ids.append(np.array([index[t] for t in e.tags], dtype="int32"))
        return words, tag_ids

    def encode_pieces(
        self, examples, preprocessor: TextPreprocessor, *, chunk_size: int = 1024
    ) -> TokenEncoding:
        """Token ids and first-piece targets, through the serving graph's own alignment.

        Logs a warning counting the words cut off by `sequence_length`.

        Args:
            examples: tagged sentences.
            preprocessor: the model's `TextPreprocessor`.
            chunk_size: sentences tokenized per TF call.

        Example:
        >>> enc = head.encode_pieces(sentences, preprocessor)  # doctest: +SKIP
        >>> enc.token_ids[0], enc.targets[0]  # doctest: +SKIP
        """
        words, tag_ids = self.encode(examples)
        token_ids, targets, num_words = [], [], []
        truncated_words = truncated_sentences = 0
        for start in range(0, len(words), chunk_size):
            chunk = words[start : start + chunk_size]
            ragged = tf.RaggedTensor.from_row_lengths(
                tf.constant([w for sentence in chunk for w in sentence], tf.string),
                tf.constant([len(s) for s in chunk], tf.int64),
            )
            packed = token_alignment.pack_words(preprocessor, ragged)
            ids = packed["token_ids"].numpy()
            lengths = packed["padding_mask"].numpy().sum(-1)
            first = packed["first_piece_index"].numpy()
            for row, sentence_tags in enumerate(tag_ids[start : start + chunk_size]):
                n = len(sentence_tags)
                positions = first[row, :n]
                kept = positions >= 0
                target = np.full(lengths[row], -1, dtype="int32")
                target[positions[kept]] = sentence_tags[kept]
                token_ids.append(ids[row, : lengths[row]].astype("int32"))
                targets.append(target)
                num_words.append(n)
                cut = int(n - kept.sum())
                truncated_words += cut
                truncated_sentences += cut > 0
        if truncated_words:
            logging.warning(
                "%d of %d words (in %d of %d sentences) fall beyond "
                "sequence_length=%d word pieces and were truncated: they are not "
                "trained on, and are predicted 'O'. Raise `sequence_length` to "
                "keep them.",
                truncated_words, sum(num_words), truncated_sentences,
                len(num_words), preprocessor.sequence_length,
            )
        return TokenEncoding(
            token_ids, targets, num_words, truncated_words, truncated_sentences
        )

    def make_dataset(
        self,
        examples,
        preprocessor: TextPreprocessor,
        *,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int | None = None,
    ) -> tf.data.Dataset:
        """A batched `(features, {head_name: targets})` dataset, padded per batch.

        With `shuffle=True`, each epoch draws a new order, then sorts by length
        inside windows of 50 batches so batches hold similar lengths (much less
        padding), and shuffles the batches. Without it, batches keep the
        examples' order (what `evaluate` expects).
        """
        encoding = self.encode_pieces(examples, preprocessor)
        lengths = np.array([len(t) for t in encoding.token_ids])
        rng = np.random.default_rng(seed)
        pad_id = preprocessor.pad_token_id
        name = self.name

        def generate():
            for rows in epoch_batches(lengths, batch_size, shuffle=shuffle, rng=rng):
                width = int(lengths[rows].max())
                ids = np.full((len(rows), width), pad_id, dtype="int32")
                targets = np.full((len(rows), width), -1, dtype="int32")
                for i, r in enumerate(rows):
                    ids[i, : lengths[r]] = encoding.token_ids[r]
                    targets[i, : lengths[r]] = encoding.targets[r]
                mask = np.arange(width)[None, :] < lengths[rows][:, None]
                features = {
                    "token_ids": ids,
                    "segment_ids": np.zeros_like(ids),
                    "padding_mask": mask,
                }
                yield features, {name: targets}

        target_spec = {name: tf.TensorSpec([None, None], tf.int32)}
        return features_dataset(generate, target_spec, len(lengths), batch_size)

    # --- model --------------------------------------------------------
    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-1
        )

    def metrics_list(self):
        return [MaskedAccuracy(ignore_class=-1, name="accuracy")]

    def word_predictions(self, targets: list, logits: list, examples: Sequence) -> list[list[str]]:
        """Predicted word tags per example from per-batch piece targets and logits.

        A word's tag is the argmax at its first piece (where the target is not
        -1); words cut off by truncation are `"O"`.
        """
        predictions = []
        for y, z in zip(targets, logits):
            best = np.asarray(z).argmax(-1)
            for row in range(len(y)):
                predictions.append([self.labels[k] for k in best[row][np.asarray(y[row]) >= 0]])
        if len(predictions) != len(examples):
            raise ValueError(
                f"`targets` hold {len(predictions)} sentences but `examples` has "
                f"{len(examples)}. Pass the targets and logits of "
                "`make_dataset(examples, ...)` without shuffling."
            )
        for tags, example in zip(predictions, examples):
            tags += ["O"] * (len(example.tags) - len(tags))
        return predictions

    def gold_labels(self, examples):
        return [list(e.tags) for e in examples]

    def predicted_labels(self, targets, logits, examples):
        return self.word_predictions(targets, logits, examples)

    def evaluate(self, targets, logits, examples):
        """Entity precision, recall and F1 (overall and `per_type`) as `conlleval` computes them."""
        predictions = self.word_predictions(targets, logits, examples)
        scheme = "bioes" if any(l[:2] in ("E-", "S-") for l in self.labels) else None
        metrics = conlleval([list(e.tags) for e in examples], predictions, scheme=scheme)
        report = metrics.to_dict()
        report["sentences"] = len(examples)
        return report

    def write_reports(self, report, directory, prefix="test"):
        fields = ("precision", "recall", "f1", "accuracy", "per_type", "counts")
        table = format_table(EntityMetrics(**{k: report[k] for k in fields}))
        path = os.path.join(directory, f"{prefix}_entities.txt")
        write_text(path, table + "\n")
        return [path]

    # --- serving ------------------------------------------------------
    def serving_features(self, preprocessor, text):
        return token_alignment.serving_word_features(preprocessor, text)

    def postprocess(self, logits, features):
        """Piece logits to word tags and entity spans (dense, `""`/0-padded)."""
        num_words = features["num_words"]
        first = features["first_piece_index"]
        width = tf.shape(first)[1]
        valid = tf.sequence_mask(num_words, width)
        kept = first >= 0
        word_logits = tf.gather(
            tf.cast(logits, tf.float32), tf.maximum(first, 0), batch_dims=1
        )
        probabilities = tf.nn.softmax(word_logits, axis=-1)
        outside = self.labels.index("O")
        best = tf.where(kept, tf.argmax(probabilities, -1, output_type=tf.int32), outside)
        scores = tf.where(kept, tf.reduce_max(probabilities, -1), 0.0)
        tags = tf.where(valid, tf.gather(tf.constant(self.labels), best), "")
        scores = tf.where(valid, scores, 0.0)
        spans = token_alignment.decode_spans(
            tf.where(valid, tf.gather(tf.constant(self._prefix_codes, tf.int32), best), 0),
            tf.where(valid, tf.gather(tf.constant(self._type_ids, tf.int32), best), -1),
        )

        # Per-span values, gathered by (row, word) from the dense word tensors.
        rows = spans["start"].value_rowids()
        last = spans["end"].flat_values - 1

        def at(tensor, words):
            return tf.gather_nd(tensor, tf.stack([tf.cast(rows, tf.int32), words], -1))

        first_word = spans["start"].flat_values
        start_byte = at(features["word_start_byte"], first_word)
        end_byte = at(features["word_end_byte"], last)
        text = tf.strings.substr(
            tf.gather(features["text"], rows), start_byte, end_byte - start_byte, unit="BYTE"
        )
        span_ids = tf.reshape(spans["span_id"], [-1])
        in_span = span_ids >= 0
        num_spans = tf.shape(first_word)[0]
        score = tf.math.unsorted_segment_mean(
            tf.boolean_mask(tf.reshape(scores, [-1]), in_span),
            tf.boolean_mask(span_ids, in_span),
            num_spans,
        )
        type_names = tf.constant(self.entity_types or [""])

        def dense(values, default):
            return spans["start"].with_flat_values(values).to_tensor(default_value=default)

        return {
            "words": features["words"],
            "word_start": features["word_start"],
            "word_end": features["word_end"],
            "tags": tags,
            "tag_scores": scores,
            "num_words": num_words,
            "entity_text": dense(text, ""),
            "entity_type": dense(tf.gather(type_names, spans["type_id"].flat_values), ""),
            "entity_start": dense(at(features["word_start"], first_word), 0),
            "entity_end": dense(at(features["word_end"], last), 0),
            "entity_score": dense(score, 0.0),
            "num_entities": tf.cast(spans["start"].row_lengths(), tf.int32),
        }
