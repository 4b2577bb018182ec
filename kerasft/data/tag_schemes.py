"""Entity tag schemes (IOB1, IOB2, BIOES): detect, validate, convert, span.

- IOB1 (CoNLL-2003's original): an entity starts with `I-`; `B-` only marks
  the first token of an entity that directly follows one of the same type.
- IOB2: every entity starts with `B-`, later tokens are `I-`.
- BIOES: like IOB2, plus `S-` for single-token entities and `E-` for the last
  token of longer ones.

Tags are `"O"` or `"<prefix>-<type>"`; the type may itself contain hyphens.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

TAG_SCHEMES = ("iob1", "iob2", "bioes")

_PREFIXES = {"iob1": ("B", "I"), "iob2": ("B", "I"), "bioes": ("B", "I", "E", "S")}


def _check_scheme(scheme: str, argument: str = "scheme") -> None:
    if scheme not in TAG_SCHEMES:
        raise ValueError(
            f"`{argument}` must be one of {', '.join(map(repr, TAG_SCHEMES))}. "
            f"Received: {argument}={scheme!r}"
        )


def split_tag(tag: str, scheme: str | None = None) -> tuple[str, str]:
    """Split a tag into its prefix and entity type.

    Args:
        tag: `"O"` or a tag like `"B-PER"`.
        scheme: if given, also reject prefixes that `scheme` does not use
            (e.g. `S-` in IOB2). `None` accepts `B-`, `I-`, `E-` and `S-`.

    Returns:
        `(prefix, type)`; `"O"` gives `("O", "")`.

    Example:
    >>> split_tag("B-ORG-SUB")
    ('B', 'ORG-SUB')
    """
    if not isinstance(tag, str):
        raise TypeError(
            f"Tags must be strings. Received: tag={tag!r} of type "
            f"{type(tag).__name__}"
        )
    if tag == "O":
        return "O", ""
    allowed = _PREFIXES["bioes"] if scheme is None else _PREFIXES[scheme]
    prefix, hyphen, entity_type = tag.partition("-")
    known = hyphen and entity_type and prefix in _PREFIXES["bioes"]
    if not known or prefix not in allowed:
        if known:  # a real prefix, just not one `scheme` uses
            expected = f"{scheme.upper()} tags ({'-, '.join(allowed)}- or O)"
            hint = " Pass the right tag scheme, or 'auto' to detect it."
        else:
            expected = "'O' or a tag like 'B-PER' (prefix B, I, E or S)"
            hint = ""
        raise ValueError(f"Unknown tag {tag!r}. Expected {expected}.{hint}")
    return prefix, entity_type


def find_invalid_tag(tags: Sequence[str], scheme: str) -> tuple[int, str] | None:
    """Find the first tag that is not well-formed in `scheme`.

    IOB1 accepts any sequence of `B-`/`I-`/`O` tags. IOB2 also requires every
    `I-X` to continue a `B-X` or `I-X`. BIOES requires `B-X (I-X)* E-X` or
    `S-X` for every entity.

    Args:
        tags: one tag sequence.
        scheme: `"iob1"`, `"iob2"` or `"bioes"`.

    Returns:
        `None` if all tags are valid, else `(index, reason)` for the first
        invalid tag (0-based index into `tags`).

    Example:
    >>> find_invalid_tag(["O", "I-PER"], "iob2")[0]
    1
    """
    _check_scheme(scheme)
    parsed = []
    for index, tag in enumerate(tags):
        try:
            parsed.append(split_tag(tag, scheme))
        except (TypeError, ValueError) as e:
            return index, str(e)
    if scheme == "iob1":
        return None
    for index, (prefix, entity_type) in enumerate(parsed):
        prev_prefix, prev_type = parsed[index - 1] if index else ("O", "")
        next_prefix, next_type = (
            parsed[index + 1] if index + 1 < len(parsed) else ("O", "")
        )
        continues = prev_prefix in ("B", "I") and prev_type == entity_type
        if prefix in ("I", "E") and not continues:
            previous = repr(tags[index - 1]) if index else "the sequence start"
            if scheme == "bioes":
                fix = "BIOES starts every entity with 'B-' or 'S-'."
            else:
                fix = (
                    "IOB2 starts every entity with 'B-'. If the data is IOB1, "
                    "use tag scheme 'iob1' or 'auto'."
                )
            return index, (
                f"Tag {tags[index]!r} follows {previous}, so it continues no "
                f"entity. {fix}"
            )
        if scheme == "bioes" and prefix in ("B", "I"):
            if not (next_prefix in ("I", "E") and next_type == entity_type):
                following = (
                    repr(tags[index + 1])
                    if index + 1 < len(tags)
                    else "the sequence end"
                )
                return index, (
                    f"Tag {tags[index]!r} is followed by {following}. In BIOES "
                    "an entity that is not a single token ('S-') must end with "
                    f"'E-{entity_type}'."
                )
    return None


def validate_tags(tags: Sequence[str], scheme: str) -> None:
    """Raise a `ValueError` if `tags` is not well-formed in `scheme`.

    Args:
        tags: one tag sequence.
        scheme: `"iob1"`, `"iob2"` or `"bioes"`.

    Example:
    >>> validate_tags(["B-PER", "I-PER", "O"], "iob2")
    """
    problem = find_invalid_tag(tags, scheme)
    if problem is not None:
        index, reason = problem
        raise ValueError(f"Invalid tag at position {index}: {reason}")


def _is_single_sequence(tag_sequences) -> bool:
    if isinstance(tag_sequences, (str, bytes)):
        return True
    if not isinstance(tag_sequences, Sequence) or not tag_sequences:
        return False  # an iterator cannot be peeked at without consuming it
    return isinstance(tag_sequences[0], (str, bytes))


def detect_tag_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """Detect whether tag sequences are IOB1, IOB2 or BIOES.

    Any `E-` or `S-` tag means BIOES; otherwise any `I-` tag that starts an
    entity (at the start, after `O` or after another type) means IOB1;
    otherwise IOB2 (which includes data with no entities at all).

    Args:
        tag_sequences: a collection of tag sequences (e.g. one per sentence).

    Example:
    >>> detect_tag_scheme([["I-PER", "O"], ["I-LOC", "B-LOC"]])
    'iob1'
    """
    if _is_single_sequence(tag_sequences):
        raise TypeError(
            "`tag_sequences` must be a collection of tag sequences, not a single "
            f"sequence. Received: tag_sequences={tag_sequences!r:.80}. Wrap a "
            "single sequence in a list: `detect_tag_scheme([tags])`."
        )
    has_bioes_prefix = False
    has_iob1_start = False
    for seq_index, tags in enumerate(tag_sequences):
        prev_prefix, prev_type = "O", ""
        for index, tag in enumerate(tags):
            try:
                prefix, entity_type = split_tag(tag)
            except (TypeError, ValueError) as e:
                raise type(e)(
                    f"In tag sequence {seq_index}, position {index}: {e}"
                ) from None
            if prefix in ("E", "S"):
                has_bioes_prefix = True
            elif prefix == "I" and (prev_prefix == "O" or prev_type != entity_type):
                has_iob1_start = True
            prev_prefix, prev_type = prefix, entity_type
    if has_bioes_prefix:
        return "bioes"
    return "iob1" if has_iob1_start else "iob2"


def group_spans(
    split_tags: Iterable[tuple[str, str]],
    *,
    begins: Collection[str] = ("B", "S"),
    ends: Collection[str] = ("E", "S"),
) -> list[tuple[str, int, int]]:
    """Group `(prefix, type)` pairs into entity spans, leniently.

    The one Python reading of tags into entities (`entity_spans` and the
    serving client's display use it; `token_alignment` has the in-graph
    twin). Prefix `"O"` is outside any entity. A token continues the open
    entity when it has the same type and its prefix is not in `begins`;
    anything else starts a new one, so an `I-X` that continues nothing
    starts an entity, as in CoNLL's `conlleval`. A prefix in `ends` closes
    the entity after its token. Nothing is validated: split (and check) the
    tags first, e.g. with `split_tag`.

    Args:
        split_tags: `(prefix, type)` per token, e.g. `("B", "PER")`.
        begins: the prefixes that always start a new entity.
        ends: the prefixes that end their entity at their token.

    Returns:
        A list of `(type, start, end)` with `end` exclusive, in order.

    Example:
    >>> group_spans([("B", "PER"), ("I", "PER"), ("I", "LOC"), ("O", "")])
    [('PER', 0, 2), ('LOC', 2, 3)]
    """
    spans = []
    open_type, open_start, length = None, 0, 0
    for index, (prefix, entity_type) in enumerate(split_tags):
        length = index + 1
        if open_type is not None and (
            prefix == "O" or prefix in begins or entity_type != open_type
        ):
            spans.append((open_type, open_start, index))
            open_type = None
        if prefix == "O":
            continue
        if open_type is None:
            open_type, open_start = entity_type, index
        if prefix in ends:
            spans.append((open_type, open_start, index + 1))
            open_type = None
    if open_type is not None:
        spans.append((open_type, open_start, length))
    return spans


def entity_spans(
    tags: Sequence[str], scheme: str = "iob2"
) -> list[tuple[str, int, int]]:
    """Extract entity spans from one tag sequence.

    Ill-formed sequences are read leniently, as CoNLL's `conlleval` reads
    them: an `I-X` that continues nothing (at the start, after `O` or after
    another type) starts a new entity; in BIOES a missing `E-` ends the
    entity at its last token. IOB1 and IOB2 are therefore read the same way.

    Args:
        tags: one tag sequence.
        scheme: `"iob1"`, `"iob2"` or `"bioes"`; only decides which prefixes
            are accepted.

    Returns:
        A list of `(type, start, end)` with `end` exclusive, in order.

    Example:
    >>> entity_spans(["B-PER", "I-PER", "O", "B-LOC"])
    [('PER', 0, 2), ('LOC', 3, 4)]
    """
    _check_scheme(scheme)
    return group_spans(
        [_split_at(index, tag, scheme) for index, tag in enumerate(tags)]
    )


def _split_at(index: int, tag: str, scheme: str) -> tuple[str, str]:
    """`split_tag`, its error naming the tag's position."""
    try:
        return split_tag(tag, scheme)
    except (TypeError, ValueError) as e:
        raise type(e)(f"At position {index}: {e}") from None


def spans_to_tags(
    spans: Iterable[tuple[str, int, int]], length: int, scheme: str = "iob2"
) -> list[str]:
    """Write entity spans as a tag sequence in `scheme`.

    Args:
        spans: `(type, start, end)` tuples, `end` exclusive, not overlapping.
        length: the number of tokens.
        scheme: `"iob1"`, `"iob2"` or `"bioes"`.

    Example:
    >>> spans_to_tags([("LOC", 0, 1), ("LOC", 1, 3)], 3, "iob1")
    ['I-LOC', 'B-LOC', 'I-LOC']
    """
    _check_scheme(scheme)
    tags = ["O"] * length
    prev_type, prev_end = None, None
    for entity_type, start, end in sorted(spans, key=lambda span: span[1]):
        overlaps = prev_end is not None and start < prev_end
        if not 0 <= start < end <= length or overlaps:
            raise ValueError(
                "`spans` must be non-empty, non-overlapping and inside the "
                f"sequence of length {length}. Received: span="
                f"{(entity_type, start, end)!r}"
            )
        if scheme == "bioes" and end - start == 1:
            tags[start] = f"S-{entity_type}"
        else:
            tags[start:end] = [f"I-{entity_type}"] * (end - start)
            if scheme == "bioes":
                tags[start] = f"B-{entity_type}"
                tags[end - 1] = f"E-{entity_type}"
            elif scheme == "iob2" or (prev_end == start and prev_type == entity_type):
                tags[start] = f"B-{entity_type}"
        prev_type, prev_end = entity_type, end
    return tags


def convert_tags(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Convert one tag sequence between IOB1, IOB2 and BIOES.

    The entities are read as `entity_spans` reads them, so ill-formed input
    (e.g. IOB2 with an `I-` after `O`) comes out well-formed.

    Args:
        tags: one tag sequence in the `source` scheme.
        source: `"iob1"`, `"iob2"` or `"bioes"`.
        target: `"iob1"`, `"iob2"` or `"bioes"`.

    Example:
    >>> convert_tags(["B-PER", "I-PER", "B-LOC"], "iob2", "bioes")
    ['B-PER', 'E-PER', 'S-LOC']
    """
    _check_scheme(source, "source")
    _check_scheme(target, "target")
    return spans_to_tags(entity_spans(tags, source), len(tags), target)
