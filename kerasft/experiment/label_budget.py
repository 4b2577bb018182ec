"""Label budgets: nested, stratified subsets of the train split.

`--label_fractions=0.1,0.3,1.0` fine-tunes every regime (and the baseline)
on a share of the labelled train examples. The subsets depend only on the
examples' stratum keys, the fractions and one data seed, never on a regime
or a fine-tuning seed, so every regime and seed sees the same examples.

One seeded order of the train examples serves every fraction: a subset is a
prefix of it, so the 0.1 subset is inside the 0.3 one. The order interleaves
the strata (each one shuffled) so that every prefix of m examples holds
within one example of `m * n_k / n` of stratum k: an earliest-deadline
schedule of the windows that bound allows (Steiner & Yeomans, 1993, show it
always exists). A stratum missing from a prefix gets its first example
added, so every class is in every subset.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from kerasft.atomic_files import write_json
from kerasft.data.subsets import write_subset


def check_fractions(fractions: str | Iterable[float]) -> tuple[float, ...]:
    """Validated label fractions: each in (0, 1], strictly increasing.

    Args:
        fractions: numbers, or their comma-separated text (a flag's value).

    Returns:
        The fractions as floats.

    Example:
    >>> check_fractions("0.1,0.3,1.0")
    (0.1, 0.3, 1.0)
    """
    given = fractions
    if isinstance(fractions, str):
        fractions = [part for part in fractions.replace(" ", "").split(",") if part]
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(
            "`label_fractions` must be numbers in (0, 1]. "
            f"Received: label_fractions={given!r}."
        ) from None
    if not values:
        raise ValueError(
            "`label_fractions` must hold at least one fraction. "
            f"Received: label_fractions={given!r}."
        )
    bad = [f for f in values if not 0 < f <= 1]  # also rejects NaN
    if bad:
        raise ValueError(
            "`label_fractions` must each be in (0, 1] (1.0: the whole train "
            f"split). Received: label_fractions={given!r}; out of range: {bad}."
        )
    if any(a >= b for a, b in zip(values, values[1:])):
        raise ValueError(
            "`label_fractions` must be sorted and unique (e.g. 0.1,0.3,1.0). "
            f"Received: label_fractions={given!r}."
        )
    return values


def entity_key(tags: Sequence[str]) -> tuple[str, ...]:
    """A sentence's stratum for NER: the sorted entity types it mentions.

    Args:
        tags: the sentence's tags (`B-PER`, `I-LOC`, `O`, ...; any
            `PREFIX-TYPE` scheme).

    Example:
    >>> entity_key(["B-PER", "I-PER", "O", "B-LOC", "B-PER"])
    ('LOC', 'PER')
    >>> entity_key(["O", "O"])
    ()
    """
    return tuple(sorted({tag.split("-", 1)[1] for tag in tags if "-" in tag}))


def _hashable(key) -> Hashable:
    if isinstance(key, (set, frozenset)):
        return frozenset(key)
    if isinstance(key, list):
        return tuple(key)
    return key


def stratified_order(keys: Sequence, *, seed: int) -> list[int]:
    """A seeded order of the examples whose every prefix is stratified.

    Each stratum is shuffled; its j-th example (1-based) is placed at a
    position m (1-based) of `[ceil((j - 1) n / n_k), floor(j n / n_k) + 1]`,
    which keeps `|count_k(m) - m n_k / n| <= 1` for every prefix length m.

    Args:
        keys: each example's stratum (a label; for NER a per-sentence key
            such as `entity_key(tags)`); sets and lists are allowed.
        seed: the shuffle's seed.

    Returns:
        A permutation of `range(len(keys))`.

    Example:
    >>> order = stratified_order(["a", "a", "b", "b"], seed=0)
    >>> sorted(order), sorted(["ab"[i // 2] for i in order[:2]])
    ([0, 1, 2, 3], ['a', 'b'])
    """
    n = len(keys)
    strata: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        strata.setdefault(_hashable(key), []).append(index)
    rng = np.random.default_rng(seed)
    # First-seen stratum order (not sorted: keys need not be comparable).
    members = [rng.permutation(indices).tolist() for indices in strata.values()]
    tiebreak = rng.permutation(len(members)).tolist()  # no stratum always first
    sizes = [len(m) for m in members]

    def release(k: int, j: int) -> int:
        return max(1, -(-(j - 1) * n // sizes[k]))

    def deadline(k: int, j: int) -> int:
        return j * n // sizes[k] + 1

    placed = [0] * len(members)
    waiting = [(release(k, 1), tiebreak[k], k) for k in range(len(members))]
    heapq.heapify(waiting)
    ready: list[tuple[int, int, int]] = []
    order = []
    for m in range(1, n + 1):
        while waiting and waiting[0][0] <= m:
            _, rank, k = heapq.heappop(waiting)
            heapq.heappush(ready, (deadline(k, placed[k] + 1), rank, k))
        # Feasible windows keep a released item ready at every position.
        _, rank, k = heapq.heappop(ready)
        order.append(members[k][placed[k]])
        placed[k] += 1
        if placed[k] < sizes[k]:
            heapq.heappush(waiting, (release(k, placed[k] + 1), rank, k))
    return order


def nested_subsets(
    keys: Sequence, fractions: str | Iterable[float], *, seed: int
) -> dict[float, list[int]]:
    """Nested, stratified train subsets of each label fraction.

    The subset of fraction f is the first `round(f * n)` (at least 1)
    examples of `stratified_order`, plus the first example of any stratum
    that prefix misses: every stratum is present, each within one example
    of its share, and smaller fractions give subsets of larger ones.

    Args:
        keys: each train example's stratum: its label for classification,
            a per-sentence key for NER (e.g. `entity_key(tags)`, or
            `bool(entity_key(tags))` for "has an entity").
        fractions: the label fractions (see `check_fractions`).
        seed: the data seed; the same keys, fractions and seed always give
            the same subsets (whatever the regime or fine-tuning seed).

    Returns:
        fraction -> the sorted indices of the examples kept.

    Example:
    >>> labels = ["pos"] * 6 + ["neg"] * 4
    >>> subsets = nested_subsets(labels, "0.5,1.0", seed=0)
    >>> [labels[i] for i in subsets[0.5]].count("neg"), len(subsets[1.0])
    (2, 10)
    """
    values = check_fractions(fractions)
    n = len(keys)
    if n == 0:
        raise ValueError("`keys` must hold at least one train example. Received: none.")
    order = stratified_order(keys, seed=seed)
    first_of_stratum: dict[Hashable, int] = {}
    for position, index in enumerate(order):
        first_of_stratum.setdefault(_hashable(keys[index]), position)
    subsets = {}
    for fraction in values:
        size = max(1, min(n, math.floor(fraction * n + 0.5)))
        kept = set(order[:size])
        # A rare stratum (fraction * n_k < 1) still gets its first example,
        # the same one at every fraction, so nesting holds.
        kept.update(order[p] for p in first_of_stratum.values() if p >= size)
        subsets[fraction] = sorted(kept)
    return subsets


def stratum_keys(target_kind: str, gold: Sequence) -> list:
    """Each train example's stratum, from its gold labels and the head's target kind.

    Args:
        target_kind: the head's `target_kind`: `"class"` (the label),
            `"token"` (the entity types a sentence mentions, `entity_key`)
            or a multi-label kind (the sorted label set).
        gold: the examples' gold labels (`Head.gold_labels`).

    Example:
    >>> stratum_keys("token", [["B-PER", "O"], ["O"]])
    [('PER',), ()]
    """
    if target_kind == "class":
        return list(gold)
    if target_kind == "token":
        return [entity_key(tags) for tags in gold]
    return [tuple(sorted(labels)) for labels in gold]


def fraction_name(fraction: float) -> str:
    """The directory name of a label budget, e.g. `labels-0.1`.

    Example:
    >>> fraction_name(0.3)
    'labels-0.3'
    """
    return f"labels-{fraction:g}"


def write_label_subsets(
    train_path: str, keys: Sequence, fractions: Iterable[float], directory: str, *, seed: int
) -> list[dict]:
    """Write the train subset of every label fraction below 1 (`nested_subsets`).

    Args:
        train_path: the train split's `.jsonl` or `.conll` file.
        keys: each train example's stratum (`stratum_keys`).
        fractions: the label fractions (`check_fractions`).
        directory: where the subset files go (`train-labels-F.EXT`) with
            `subsets.json`, the kept indices of every fraction.
        seed: the data seed (not a fine-tuning seed: every regime and
            seed gets the same subsets).

    Returns:
        One `{"fraction", "examples", "train"}` a fraction, in order; 1.0
        keeps `train_path` itself.

    Example:
    >>> budgets = write_label_subsets("train.jsonl", labels, (0.1, 1.0),  # doctest: +SKIP
    ...                               "runs/x/labels", seed=0)
    """
    subsets = nested_subsets(keys, fractions, seed=seed)
    extension = os.path.splitext(train_path)[1]
    os.makedirs(directory, exist_ok=True)
    budgets = []
    for fraction, indices in subsets.items():
        path = train_path
        if fraction < 1:
            path = os.path.join(directory, f"train-{fraction_name(fraction)}{extension}")
            write_subset(train_path, indices, path)
        budgets.append({"fraction": fraction, "examples": len(indices), "train": path})
    record = {"train": train_path, "seed": seed,
              "subsets": {f"{f:g}": indices for f, indices in subsets.items()}}
    write_json(os.path.join(directory, "subsets.json"), record, indent=None)
    return budgets
