"""`run_baseline` picks the baseline by the head's `target_kind`, and sits below the experiment."""

import ast
import pathlib

import pytest

import kerasft
from kerasft.baselines import BASELINES, baseline_name, run_baseline
from kerasft.data.jsonl import LabelledText

PACKAGE = pathlib.Path(kerasft.__file__).parent / "baselines"
DATA = [LabelledText("thou art here", ["archaic"], "mem", 1),
        LabelledText("you are here", [], "mem", 2)]


def test_the_baseline_follows_the_target_kind():
    assert baseline_name(kerasft.get_head("sentiment")) == "tfidf_logreg"
    assert baseline_name(kerasft.get_head("style")) == "tfidf_logreg"
    assert baseline_name(kerasft.get_head("topic")) == "tfidf_logreg"
    assert baseline_name(kerasft.get_head("ner")) == "crf"
    assert sorted(BASELINES) == ["class", "token"]


def test_a_head_kind_without_a_baseline_is_a_clear_error():
    with pytest.raises(ValueError, match=(
        r"No baseline exists for head 'style_multilabel' of target_kind "
        r"'multi_hot'\. Baselines exist for target_kind 'class' \(tfidf_logreg\) "
        r"and 'token' \(crf\)\."
    )):
        run_baseline(kerasft.get_head("style_multilabel"), DATA, DATA, DATA, seed=0)


def test_a_class_without_target_kind_is_a_clear_error():
    class Spans:
        pass

    with pytest.raises(ValueError, match="No baseline exists for head 'Spans' of target_kind None"):
        baseline_name(Spans)


def test_options_reach_the_baseline():
    rows = [("a good film", "pos"), ("a bad film", "neg")] * 3
    data = [LabelledText(t, y, "mem", i) for i, (t, y) in enumerate(rows)]
    result = run_baseline(kerasft.get_head("sentiment"), data, data, data, seed=3, c_grid=[5.0])
    assert result["params"]["c_grid"] == [5.0]
    assert result["seed"] == 3
    with pytest.raises(TypeError, match="grid"):
        run_baseline(kerasft.get_head("sentiment"), data, data, data, seed=0, grid=[(0.1, 0.1)])


def test_the_package_imports_nothing_from_above_it():
    forbidden = ("kerasft.experiment", "kerasft.finetuning", "kerasft.cli", "kerasft.export")
    files = sorted(PACKAGE.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "common.py", "crf.py", "tfidf.py"}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
