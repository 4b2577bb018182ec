"""`kerasft-evaluate` and `evaluate_file`: metrics.json and each head's reports from a labelled file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import kerasft
from kerasft.evaluation.evaluate import evaluate_file
from kerasft.task import resolve_model_path
from conftest import NEGATIVE, POSITIVE, write_jsonl

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
NER_CONLL = """\
EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

the DT B-NP O
film NN I-NP O
in IN B-PP O
Paris NNP B-NP B-LOC
"""


def _evaluate(*args):
    return subprocess.run(
        [sys.executable, "-m", "kerasft.cli.evaluate", *args],
        capture_output=True, text=True, env=ENV, timeout=600,
    )


@pytest.fixture(scope="module")
def saved_sentiment(trained_tiny_sentiment_model, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    trained_tiny_sentiment_model.save(run_dir / "model.keras")
    return run_dir


@pytest.mark.large
def test_evaluate_writes_metrics_and_reports(saved_sentiment, tmp_path):
    rows = [{"text": t, "label": "positive"} for t in POSITIVE]
    rows += [{"text": t, "label": "negative"} for t in NEGATIVE]
    data = write_jsonl(tmp_path / "test.jsonl", rows)
    out = tmp_path / "eval"
    result = _evaluate(f"--model={saved_sentiment}", f"--data={data}", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr
    assert "sentiment: accuracy" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    report = metrics["heads"]["sentiment"]
    assert report["accuracy"] >= 0.9  # the fixture model learned the tiny task
    assert set(report["reports"]) == {"sentiment_report.txt", "sentiment_confusion_matrix.png"}
    assert (out / "sentiment_confusion_matrix.png").stat().st_size > 0
    assert "positive" in (out / "sentiment_report.txt").read_text()


@pytest.mark.large
def test_unknown_label_is_a_clean_error(saved_sentiment, tmp_path):
    rows = [{"text": "a good film", "label": "positive"},
            {"text": "so so", "label": "neutral"}]
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    result = _evaluate(f"--model={saved_sentiment}", f"--data={data}",
                       f"--output_dir={tmp_path / 'eval'}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(data) in result.stderr
    assert "line 2" in result.stderr and "'neutral'" in result.stderr
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_ner_head_writes_the_per_type_table(tiny_backbone, tiny_preprocessor, tmp_path):
    ner_cls = kerasft.get_head("ner")
    data = tmp_path / "test.conll"
    data.write_text(NER_CONLL, encoding="utf-8")
    head = ner_cls(ner_cls.labels_from_examples(ner_cls.read_examples(str(data))))
    model = kerasft.TaskModel(tiny_backbone, [head], tiny_preprocessor)
    report = evaluate_file(model, "ner", str(data), str(tmp_path / "eval"))
    assert report["reports"] == ["ner_entities.txt"]
    table = (tmp_path / "eval" / "ner_entities.txt").read_text()
    for entity_type in ("LOC", "PER", "ORG", "MISC"):
        assert entity_type in table
    assert 0.0 <= report["f1"] <= 1.0


def test_bad_paths_fail_clearly(tiny_sentiment_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="without model.keras"):
        resolve_model_path(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="`data` file not found"):
        evaluate_file(tiny_sentiment_model, "sentiment", str(tmp_path / "none.jsonl"))
    with pytest.raises(ValueError, match="No head named 'ner'"):
        evaluate_file(tiny_sentiment_model, "ner", str(tmp_path / "none.jsonl"))


# The binary's entry point in a fresh process, in an output directory it may
# not write to. Root ignores the mode bits, so there the child gets the error
# open() gives in such a directory, from open() itself.
_UNWRITABLE_CHILD = """
import builtins, errno, os, sys
out = sys.argv.pop(1)
if os.access(out, os.W_OK):
    real_open = builtins.open
    def unwritable(path, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and os.path.dirname(os.path.abspath(path)) == out:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, mode, *args, **kwargs)
    builtins.open = unwritable
sys.argv[0] = "kerasft-evaluate"
from kerasft.cli.evaluate import run
run()
"""


@pytest.mark.subprocess
def test_an_unwritable_output_directory_is_a_one_line_error(tiny_sentiment_model, tmp_path):
    model = tmp_path / "model.keras"
    tiny_sentiment_model.save(model)
    data = write_jsonl(tmp_path / "test.jsonl", [{"text": POSITIVE[0], "label": "positive"},
                                                 {"text": NEGATIVE[0], "label": "negative"}])
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text('{"old": "complete"}')
    out.chmod(0o500)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _UNWRITABLE_CHILD, str(out), f"--model={model}",
             f"--data={data}", f"--output_dir={out}"],
            capture_output=True, text=True, env=ENV, timeout=600,
        )
    finally:
        out.chmod(0o700)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    ours = [line for line in lines if line.startswith("kerasft-evaluate")]
    assert ours == lines[-1:] == [  # one line, the last (TF's start-up chatter comes before)
        f"kerasft-evaluate: error: Could not write {out / 'sentiment_report.txt'}: permission "
        "denied; choose a directory you can write to. Nothing was replaced: no file was left there."
    ], result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]
    assert (out / "metrics.json").read_text() == '{"old": "complete"}'
