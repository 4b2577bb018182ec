"""The five BERT special tokens every kerasft vocabulary holds."""

from __future__ import annotations

from collections.abc import Sequence

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)


def missing_special_tokens(tokens: Sequence[str]) -> list[str]:
    """Return the special tokens absent from `tokens`, in `SPECIAL_TOKENS` order.

    Example:
    >>> missing_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    ['[MASK]']
    """
    present = set(tokens)
    return [token for token in SPECIAL_TOKENS if token not in present]


def check_special_tokens(
    tokens: Sequence[str], argument: str, hint: str, *, as_pieces: bool = False
) -> None:
    """Raise a `ValueError` naming the special tokens `tokens` lacks.

    Both preprocessing layers need all five (their ids are looked up by
    token), so they share this check and its message.

    Args:
        tokens: the vocabulary to check.
        argument: the constructor argument it came from (e.g. `"vocabulary"`).
        hint: the last sentence of the message: how to get a valid one.
        as_pieces: say "as pieces" (a SentencePiece model holds pieces).

    Example:
    >>> check_special_tokens(list(SPECIAL_TOKENS), "vocabulary", "")
    """
    missing = missing_special_tokens(tokens)
    if missing:
        raise ValueError(
            f"`{argument}` must contain the BERT special tokens "
            f"{list(SPECIAL_TOKENS)}{' as pieces' if as_pieces else ''}. "
            f"Missing: {missing}. {hint}"
        )
