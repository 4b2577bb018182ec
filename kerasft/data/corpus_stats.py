"""What reading a corpus yielded and skipped, per file, and its capped log."""

from __future__ import annotations

import dataclasses

from absl import logging

# Beyond this many problems per file, problems are only counted, so a badly
# encoded corpus cannot flood the log (repeated passes add no new warnings).
_MAX_WARNINGS_PER_FILE = 5


@dataclasses.dataclass
class FileCounts:
    """Counts for one file (or TFDS split) of a corpus.

    Args:
        documents: texts yielded.
        empty_lines: lines or records whose text is empty or whitespace.
        undecodable_lines: lines (CSV/TSV: records, TFDS: examples) that are
            not valid UTF-8.
        skipped_records: malformed records: invalid JSON, a missing or
            non-string field, a short CSV row, a CoNLL sentence with an
            undecodable line or a carriage return inside a line.

    Example:

    >>> FileCounts(documents=3, undecodable_lines=1, skipped_records=1).problems
    2
    """

    documents: int = 0
    empty_lines: int = 0
    undecodable_lines: int = 0
    skipped_records: int = 0

    @property
    def problems(self) -> int:
        """Number of undecodable lines plus skipped records."""
        return self.undecodable_lines + self.skipped_records


_COUNT_NAMES = tuple(field.name for field in dataclasses.fields(FileCounts))


def _total(name: str) -> property:
    # One property a count, so the four totals cannot drift apart.
    return property(
        lambda self: sum(getattr(c, name) for c in self.files.values()),
        doc=f"`{name}` summed over all files.",
    )


@dataclasses.dataclass
class CorpusStats:
    """Per-file counts of what a corpus pass yielded and skipped.

    Updated while a `text_dataset` or `iter_texts` stream is consumed; counts
    accumulate over repeated passes.

    Args:
        files: `FileCounts` keyed by file path (TFDS: `tfds:NAME[SPLIT]`).

    Example:

    >>> stats = CorpusStats()
    >>> stats.for_file("a.txt").documents += 2
    >>> stats.documents
    2
    """

    files: dict[str, FileCounts] = dataclasses.field(default_factory=dict)

    documents = _total("documents")
    empty_lines = _total("empty_lines")
    undecodable_lines = _total("undecodable_lines")
    skipped_records = _total("skipped_records")

    def for_file(self, path: str) -> FileCounts:
        """Returns the counts of `path`, creating them if needed."""
        return self.files.setdefault(path, FileCounts())

    def to_dict(self) -> dict:
        """Returns totals and per-file counts as plain JSON-able values."""
        totals = {name: getattr(self, name) for name in _COUNT_NAMES}
        totals["files"] = {
            path: dataclasses.asdict(counts)
            for path, counts in self.files.items()
        }
        return totals

    def summary(self) -> str:
        """Returns a one-line-per-file human readable summary."""
        header = (
            f"{self.documents} documents, {self.empty_lines} empty lines, "
            f"{self.undecodable_lines} undecodable lines, "
            f"{self.skipped_records} skipped records "
            f"in {len(self.files)} file(s)"
        )
        per_file = [
            f"  {path}: {c.documents} documents, {c.empty_lines} empty, "
            f"{c.undecodable_lines} undecodable, {c.skipped_records} skipped"
            for path, c in self.files.items()
        ]
        return "\n".join([header] + per_file)


def warn_skipped(counts: FileCounts, where: str, message: str) -> None:
    """Logs why something was skipped, until the file has too many problems.

    Call it after counting the problem in `counts`.

    Args:
        counts: the counts of the file the problem is in.
        where: `"PATH, line N"` (or `"KEY, example N"` for TFDS).
        message: what is wrong, e.g. `"not valid JSON (Expecting value)"`.

    Example:

    >>> counts = FileCounts(skipped_records=1)
    >>> warn_skipped(counts, "a.jsonl, line 2", "no field 'text'")
    """
    if counts.problems <= _MAX_WARNINGS_PER_FILE:
        logging.warning("Corpus %s: %s; skipped.", where, message)
        if counts.problems == _MAX_WARNINGS_PER_FILE:
            logging.warning(
                "Corpus %s: further problems in this file are counted, "
                "not logged.",
                where.rsplit(", line", 1)[0],
            )
