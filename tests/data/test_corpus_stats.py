"""Tests for kerasft.data.corpus_stats: counts, totals and the capped log."""

from kerasft.data.corpus_stats import CorpusStats, FileCounts, warn_skipped


def test_totals_summary_and_dict():
    stats = CorpusStats()
    stats.for_file("a.txt").documents += 2
    b = stats.for_file("b.jsonl")
    b.documents, b.empty_lines, b.undecodable_lines, b.skipped_records = 1, 2, 3, 4
    assert (
        stats.documents,
        stats.empty_lines,
        stats.undecodable_lines,
        stats.skipped_records,
    ) == (3, 2, 3, 4)
    assert stats.summary() == (
        "3 documents, 2 empty lines, 3 undecodable lines, 4 skipped records "
        "in 2 file(s)\n"
        "  a.txt: 2 documents, 0 empty, 0 undecodable, 0 skipped\n"
        "  b.jsonl: 1 documents, 2 empty, 3 undecodable, 4 skipped"
    )
    assert stats.to_dict()["skipped_records"] == 4
    assert stats.to_dict()["files"]["b.jsonl"]["empty_lines"] == 2


def test_warn_skipped_stops_after_five_problems(warnings_logged):
    counts = FileCounts()
    for line in range(1, 8):
        counts.skipped_records += 1
        warn_skipped(counts, f"a.jsonl, line {line}", "broken")
    assert warnings_logged == [
        f"Corpus a.jsonl, line {line}: broken; skipped." for line in range(1, 6)
    ] + ["Corpus a.jsonl: further problems in this file are counted, not logged."]
