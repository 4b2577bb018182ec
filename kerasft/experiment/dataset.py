"""The labelled dataset folder an experiment reads: its train, validation and test files."""

from __future__ import annotations

import os

SPLITS = ("train", "validation", "test")
_LABELLED_EXTENSIONS = ("jsonl", "conll")


def split_files(data_dir: str) -> dict[str, str]:
    """The `train`/`validation`/`test` files of a labelled dataset folder.

    Args:
        data_dir: a folder holding `{split}.jsonl` or `{split}.conll` files.

    Returns:
        `{split: path}` for the three splits.

    Example:
    >>> split_files("../shared/data/ner_conll2003")["test"]  # doctest: +SKIP
    '../shared/data/ner_conll2003/test.conll'
    """
    if not os.path.isdir(data_dir):
        raise ValueError(
            f"`data_dir` must be a dataset folder. Received: data_dir={data_dir!r}, "
            "which is not a directory."
        )
    files = {}
    for split in SPLITS:
        found = [
            os.path.join(data_dir, f"{split}.{ext}")
            for ext in _LABELLED_EXTENSIONS
            if os.path.isfile(os.path.join(data_dir, f"{split}.{ext}"))
        ]
        if len(found) != 1:
            raise ValueError(
                f"`data_dir` must hold exactly one {split}.jsonl or {split}.conll. "
                f"Received: data_dir={data_dir!r} with files "
                f"{sorted(os.listdir(data_dir))}."
            )
        files[split] = found[0]
    return files
