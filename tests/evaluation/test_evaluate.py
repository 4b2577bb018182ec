"""`evaluate_model_file` under resource faults: a clear error, the previous outputs intact."""

import errno
import os

import pytest

from kerasft.atomic_files import ArtifactWriteError
from kerasft.evaluation.evaluate import evaluate_model_file
from conftest import NEGATIVE, POSITIVE, write_jsonl


@pytest.fixture
def evaluated(tiny_sentiment_model, tmp_path):
    """A model, its data, and the outputs of a first, complete evaluation."""
    model = tmp_path / "model.keras"
    tiny_sentiment_model.save(model)
    data = write_jsonl(tmp_path / "test.jsonl", [{"text": t, "label": "positive"} for t in POSITIVE]
                       + [{"text": t, "label": "negative"} for t in NEGATIVE])
    out = tmp_path / "eval"
    evaluate_model_file(str(model), str(data), str(out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"metrics.json", "sentiment_report.txt", "sentiment_confusion_matrix.png"}
    return str(model), str(data), out, before


def test_a_full_disk_at_metrics_json_keeps_every_previous_output(evaluated, monkeypatch):
    model, data, out, before = evaluated
    real_replace = os.replace

    def full_disk(src, dst):
        if os.path.basename(dst) == "metrics.json":
            raise OSError(errno.ENOSPC, "No space left on device", dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ArtifactWriteError) as raised:
        evaluate_model_file(model, data, str(out))
    assert str(raised.value.strerror) == (
        f"Could not write {out / 'metrics.json'}: the disk is full; free some space. "
        "Nothing was replaced: the previous file is unchanged."
    )
    # The reports written before the fault are complete new ones (the model
    # and data are unchanged, so the same bytes); metrics.json is the old one.
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_an_unwritable_output_directory_changes_nothing(evaluated, monkeypatch):
    import builtins

    model, data, out, before = evaluated
    real_open = builtins.open

    def unwritable(path, mode="r", *args, **kwargs):
        # What open() gives in a chmod 0o500 directory (root ignores the mode).
        if any(c in mode for c in "wax+") and os.path.dirname(os.path.abspath(path)) == str(out):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", unwritable)
    with pytest.raises(ArtifactWriteError, match=r"sentiment_report\.txt: permission denied; "
                                                 "choose a directory you can write to"):
        evaluate_model_file(model, data, str(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
