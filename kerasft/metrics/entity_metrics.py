"""Entity-level precision, recall and F1 computed exactly as CoNLL's `conlleval`.

This is a line-by-line port of the chunk counting in the `conlleval` perl
script (version 2004-01-26) used for CoNLL-2000/2003: its `startOfChunk` /
`endOfChunk` rules, its rule that a chunk is correct only if it starts and
ends at the same tokens with the same type in gold and prediction, and its
per-type counts. IOB1 and IOB2 tags are read identically (an `I-X` after `O`
or after another type starts a chunk), so both give the same entity figures.

Differences from the script are only in the interface: sequences are passed
as lists (each sequence is one sentence, as if separated by an empty line),
and figures are fractions in [0, 1], not percentages (`format_table` prints
percentages like the script). Document markers such as `-DOCSTART-` are not
tokens here; the script counts them in its token accuracy when present. For
tags without a type (e.g. a bare `"B"`) the script prints the empty type's row
twice; `format_table` prints it once.

Chunks are not read with `tag_schemes.group_spans`, on purpose: the script
compares gold and prediction token by token with its own boundary table,
and its quirks are part of the figures it defines (`E-` followed by a
same-type `B-` is one chunk, `.`, `[` and `]` are special, an untyped chunk
can stay open across a sentence boundary). For `B-`/`I-`/`O` tags with a
type the two readings agree; BIOES input is converted with `tag_schemes`.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Sequence

from kerasft.data import tag_schemes

COUNT_KEYS = (
    "correct_chunks",
    "found_guessed",
    "found_correct",
    "tokens",
    "correct_tokens",
)


def _split(tag: str) -> tuple[str, str]:
    # The script's /^([^-]*)-(.*)$/ split; `$type ? $type : ""` also maps "0" to "".
    prefix, hyphen, entity_type = tag.partition("-")
    if not hyphen:
        return tag, ""
    return prefix, "" if entity_type == "0" else entity_type


# The script's endOfChunk / startOfChunk tag pairs: (previous tag, tag) at
# which a chunk ends before the tag / starts at it.
_END_PAIRS = frozenset({
    ("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"),
    ("E", "E"), ("E", "I"), ("E", "O"),
})
_START_PAIRS = frozenset({
    ("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"),
    ("E", "E"), ("E", "I"), ("O", "E"),
})


def _chunk_boundary(
    prev_tag: str, tag: str, prev_type: str, type_: str
) -> tuple[bool, bool]:
    """The script's `(endOfChunk, startOfChunk)` for one side at one token."""
    type_changed = prev_type != type_
    end = (
        (prev_tag, tag) in _END_PAIRS
        or (prev_tag not in ("O", ".") and type_changed)
        or prev_tag in ("]", "[")
    )
    start = (
        (prev_tag, tag) in _START_PAIRS
        or (tag not in ("O", ".") and type_changed)
        or tag in ("[", "]")
    )
    return end, start


# (in_correct, last_correct, last_correct_type, last_guessed, last_guessed_type)
# as the script starts them.
_INITIAL_STATE = (False, "O", "", "O", "")


def _count_chunks(true_tags, pred_tags, totals, per_type, state) -> tuple:
    """Add one sentence's chunk counts, replaying the script's main loop.

    Returns the loop state after the sentence's boundary line.
    """
    in_correct, last_correct, last_correct_type = state[:3]
    last_guessed, last_guessed_type = state[3:]
    # The trailing (None, None) is the empty line after the sentence: an
    # "O O" that closes open chunks but is not a token.
    for true_tag, pred_tag in [*zip(true_tags, pred_tags), (None, None)]:
        boundary = true_tag is None
        correct, correct_type = ("O", "") if boundary else _split(true_tag)
        guessed, guessed_type = ("O", "") if boundary else _split(pred_tag)

        end_correct, start_correct = _chunk_boundary(
            last_correct, correct, last_correct_type, correct_type
        )
        end_guessed, start_guessed = _chunk_boundary(
            last_guessed, guessed, last_guessed_type, guessed_type
        )

        if in_correct:
            if end_correct and end_guessed and last_guessed_type == last_correct_type:
                in_correct = False
                totals["correct_chunks"] += 1
                per_type[last_correct_type]["correct_chunks"] += 1
            elif end_correct != end_guessed or guessed_type != correct_type:
                in_correct = False
        if start_correct and start_guessed and guessed_type == correct_type:
            in_correct = True
        if start_correct:
            totals["found_correct"] += 1
            per_type[correct_type]["found_correct"] += 1
        if start_guessed:
            totals["found_guessed"] += 1
            per_type[guessed_type]["found_guessed"] += 1
        last_correct, last_correct_type = correct, correct_type
        last_guessed, last_guessed_type = guessed, guessed_type
    # With B-/I-/E- tags the boundary closes every chunk, so this is the
    # initial state; only odd tags (e.g. "B" then ".") carry a chunk over.
    return in_correct, last_correct, last_correct_type, last_guessed, last_guessed_type


def _count_tokens(true_tags, pred_tags, totals) -> None:
    totals["tokens"] += len(true_tags)
    totals["correct_tokens"] += sum(
        _split(true_tag) == _split(pred_tag)
        for true_tag, pred_tag in zip(true_tags, pred_tags)
    )


def _prf(correct: int, guessed: int, gold: int) -> tuple[float, float, float]:
    precision = correct / guessed if guessed > 0 else 0.0
    recall = correct / gold if gold > 0 else 0.0
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision + recall > 0
        else 0.0
    )
    return precision, recall, f1


@dataclasses.dataclass(frozen=True)
class EntityMetrics:
    """Entity-level figures as `conlleval` computes them, as fractions.

    Args:
        precision: correct chunks / predicted chunks (0.0 if none predicted).
        recall: correct chunks / gold chunks (0.0 if no gold chunks).
        f1: `2 * precision * recall / (precision + recall)` (0.0 if both 0).
        accuracy: tokens whose predicted tag equals the gold tag / tokens.
        per_type: entity type -> dict with `precision`, `recall`, `f1`,
            `correct_chunks`, `found_guessed` and `found_correct`, for every
            type seen in gold or prediction, sorted by name.
        counts: `correct_chunks`, `found_guessed` (predicted chunks),
            `found_correct` (gold chunks), `tokens` and `correct_tokens`.
    """

    precision: float
    recall: float
    f1: float
    accuracy: float
    per_type: dict[str, dict]
    counts: dict[str, int]

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict (e.g. for `metrics.json`)."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
            "counts": dict(self.counts),
            "per_type": {name: dict(row) for name, row in self.per_type.items()},
        }


def _metrics_from_counts(totals, per_type, state) -> EntityMetrics:
    if state[0]:  # the script's `if ($inCorrect)` after its input ends
        totals = dict(totals, correct_chunks=totals["correct_chunks"] + 1)
        per_type = {name: collections.Counter(row) for name, row in per_type.items()}
        per_type.setdefault(state[2], collections.Counter())["correct_chunks"] += 1
    precision, recall, f1 = _prf(
        totals["correct_chunks"], totals["found_guessed"], totals["found_correct"]
    )
    rows = {}
    for name in sorted(per_type):
        row = per_type[name]
        if not (row["found_guessed"] or row["found_correct"]):
            continue
        p, r, f = _prf(
            row["correct_chunks"], row["found_guessed"], row["found_correct"]
        )
        rows[name] = {
            "precision": p,
            "recall": r,
            "f1": f,
            "correct_chunks": row["correct_chunks"],
            "found_guessed": row["found_guessed"],
            "found_correct": row["found_correct"],
        }
    tokens = totals["tokens"]
    return EntityMetrics(
        precision=precision,
        recall=recall,
        f1=f1,
        accuracy=totals["correct_tokens"] / tokens if tokens else 0.0,
        per_type=rows,
        counts={key: totals[key] for key in COUNT_KEYS},
    )


def _as_tags(sequence, argument: str, index: int) -> list[str]:
    if isinstance(sequence, (str, bytes)):
        raise TypeError(
            f"`{argument}` must be a batch of tag sequences (lists of tags). "
            f"Received: {argument}[{index}]={sequence!r:.80}. Wrap a single "
            "sequence in a list."
        )
    tags = []
    for tag in sequence:
        if isinstance(tag, bytes):  # e.g. from a tf.string tensor's .numpy()
            tag = tag.decode("utf-8")
        if not isinstance(tag, str):
            raise TypeError(
                f"Tags must be strings or bytes. Received: a {type(tag).__name__} "
                f"({tag!r:.40}) in {argument}[{index}]"
            )
        tags.append(str(tag))
    return tags


class EntityF1Accumulator:
    """Accumulate `conlleval` counts over batches of whole tag sequences.

    Each sequence is one sentence, so results are exact over a dataset no
    matter how it is batched. Sequences must be unpadded (cut padding off
    before calling `update`).

    Args:
        scheme: `None` (default) reads tags exactly as `conlleval` does,
            which is right for IOB1 and IOB2. `"iob1"` or `"iob2"` does the
            same but rejects tags with other prefixes. `"bioes"` converts
            both sides to IOB2 for chunking (the script does not understand
            `S-`); token accuracy still compares the BIOES tags.

    Example:
    >>> acc = EntityF1Accumulator()
    >>> acc.update([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    >>> acc.result().f1
    1.0
    """

    def __init__(self, scheme: str | None = None):
        if scheme is not None and scheme not in tag_schemes.TAG_SCHEMES:
            raise ValueError(
                "`scheme` must be None, "
                f"{', '.join(map(repr, tag_schemes.TAG_SCHEMES))}. "
                f"Received: scheme={scheme!r}"
            )
        self.scheme = scheme
        self.reset_state()

    def reset_state(self) -> None:
        """Forget all counts."""
        self._totals = dict.fromkeys(COUNT_KEYS, 0)
        self._per_type = collections.defaultdict(collections.Counter)
        self._state = _INITIAL_STATE

    def update(
        self,
        true_sequences: Sequence[Sequence[str]],
        pred_sequences: Sequence[Sequence[str]],
    ) -> None:
        """Add a batch of gold and predicted tag sequences.

        Args:
            true_sequences: gold tag sequences, one per sentence.
            pred_sequences: predicted tag sequences, aligned with
                `true_sequences` and of the same lengths.
        """
        true_sequences = list(true_sequences)
        pred_sequences = list(pred_sequences)
        if len(true_sequences) != len(pred_sequences):
            raise ValueError(
                "`true_sequences` and `pred_sequences` must hold the same number "
                f"of sequences. Received: {len(true_sequences)} and "
                f"{len(pred_sequences)}"
            )
        # Validate the whole batch before counting, so a bad batch adds nothing.
        batch = []
        for index, pair in enumerate(zip(true_sequences, pred_sequences)):
            true_tags = _as_tags(pair[0], "true_sequences", index)
            pred_tags = _as_tags(pair[1], "pred_sequences", index)
            if len(true_tags) != len(pred_tags):
                raise ValueError(
                    f"Sequence {index} has {len(true_tags)} gold tags but "
                    f"{len(pred_tags)} predicted tags. Expected one predicted "
                    "tag per token; remove padding before calling `update`."
                )
            if self.scheme is not None:
                self._check_prefixes(true_tags, f"true_sequences[{index}]")
                self._check_prefixes(pred_tags, f"pred_sequences[{index}]")
            batch.append((true_tags, pred_tags))

        for true_tags, pred_tags in batch:
            _count_tokens(true_tags, pred_tags, self._totals)
            if self.scheme == "bioes":
                true_tags = tag_schemes.convert_tags(true_tags, "bioes", "iob2")
                pred_tags = tag_schemes.convert_tags(pred_tags, "bioes", "iob2")
            self._state = _count_chunks(
                true_tags, pred_tags, self._totals, self._per_type, self._state
            )

    def _check_prefixes(self, tags: list[str], where: str) -> None:
        for position, tag in enumerate(tags):
            try:
                tag_schemes.split_tag(tag, self.scheme)
            except ValueError as e:
                raise ValueError(f"In {where}, position {position}: {e}") from None

    def result(self) -> EntityMetrics:
        """Return the figures over everything passed to `update` so far."""
        return _metrics_from_counts(self._totals, self._per_type, self._state)


def conlleval(
    true_sequences: Iterable[Sequence[str]],
    pred_sequences: Iterable[Sequence[str]],
    *,
    scheme: str | None = None,
) -> EntityMetrics:
    """Compute entity precision, recall, F1 and token accuracy like `conlleval`.

    Args:
        true_sequences: gold tag sequences, one per sentence.
        pred_sequences: predicted tag sequences, aligned with `true_sequences`.
        scheme: see `EntityF1Accumulator`; the default `None` reads IOB1 and
            IOB2 exactly as the script does.

    Example:
    >>> m = conlleval([["B-PER", "I-PER", "O", "B-LOC"]],
    ...               [["B-PER", "I-PER", "O", "B-ORG"]])
    >>> m.precision, m.recall, m.per_type["PER"]["f1"]
    (0.5, 0.5, 1.0)
    """
    accumulator = EntityF1Accumulator(scheme)
    accumulator.update(true_sequences, pred_sequences)
    return accumulator.result()


def format_table(metrics: EntityMetrics) -> str:
    """Format metrics as `conlleval` prints them (percentages, per-type rows).

    Args:
        metrics: the result of `conlleval` or `EntityF1Accumulator.result`.

    Example:
    >>> print(format_table(conlleval([["B-PER"]], [["B-PER"]])))
    processed 1 tokens with 1 phrases; found: 1 phrases; correct: 1.
    accuracy: 100.00%; precision: 100.00%; recall: 100.00%; FB1: 100.00
                  PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1
    """
    if not isinstance(metrics, EntityMetrics):
        raise TypeError(
            "`metrics` must be an `EntityMetrics`. Received: "
            f"metrics of type {type(metrics).__name__}"
        )
    counts = metrics.counts
    lines = [
        f"processed {counts['tokens']} tokens with {counts['found_correct']} "
        f"phrases; found: {counts['found_guessed']} phrases; correct: "
        f"{counts['correct_chunks']}."
    ]
    if counts["tokens"] > 0:
        lines.append(
            f"accuracy: {100 * metrics.accuracy:6.2f}%; "
            f"precision: {100 * metrics.precision:6.2f}%; "
            f"recall: {100 * metrics.recall:6.2f}%; "
            f"FB1: {100 * metrics.f1:6.2f}"
        )
    for name, row in metrics.per_type.items():
        lines.append(
            f"{name:>17}: precision: {100 * row['precision']:6.2f}%; "
            f"recall: {100 * row['recall']:6.2f}%; "
            f"FB1: {100 * row['f1']:6.2f}  {row['found_guessed']}"
        )
    return "\n".join(lines)
