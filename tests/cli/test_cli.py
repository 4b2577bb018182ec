"""The absl binaries: help, flagfile recipes, the full chain, and clean errors."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import NEGATIVE, POSITIVE, REPO, run_binary_cases, write_jsonl

# Every test here runs a binary in a fresh process.
pytestmark = pytest.mark.subprocess

BIN = pathlib.Path(sys.executable).parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def run(binary, *args, cwd=REPO, check=True, stdin=None):
    result = subprocess.run(
        [str(BIN / binary), *map(str, args)], capture_output=True, text=True,
        cwd=cwd, env=ENV, timeout=600, input=stdin,
    )
    if check:
        assert result.returncode == 0, (
            f"{binary} failed ({result.returncode}):\n{result.stdout[-2000:]}\n"
            f"{result.stderr[-4000:]}"
        )
    return result


@pytest.fixture
def tiny_dataset(tmp_path):
    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [
        {"text": t, "label": "negative"} for t in NEGATIVE
    ]
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "validation", "test"):
        write_jsonl(data / f"{split}.jsonl", rows * 3)
    return data


@pytest.mark.large
def test_demo_recipes_chain_end_to_end_on_tiny_data(tmp_path, tiny_dataset):
    """The real flags/demo_*.flags recipes, with data and budgets overridden."""
    pre_dir, ft_dir, export_dir = tmp_path / "pre", tmp_path / "ft", tmp_path / "sm"
    out = run(
        "kerasft-pretrain", "--flagfile=flags/demo_pretrain.flags",
        f"--labelled_data={tiny_dataset}", f"--output_dir={pre_dir}",
        "--steps=4", "--checkpoint_every=2", "--warmup_steps=1", "--batch_size=8",
        "--vocabulary_size=200", "--validation_documents=8", "--hidden_dim=16",
        "--intermediate_dim=32", "--num_heads=2", "--noprogress",
    )
    assert "held-out MLM loss" in out.stdout
    metrics = json.loads((pre_dir / "metrics.json").read_text())
    assert metrics["steps"] == 4 and "validation_after" in metrics
    for name in ("config.json", "vocab.txt", "backbone/config.json",
                 "backbone/assets/tokenizer/vocabulary.txt", "checkpoints"):
        assert (pre_dir / name).exists(), name

    out = run(
        "kerasft-finetune", "--flagfile=flags/demo_finetune.flags",
        f"--backbone={pre_dir / 'backbone'}", f"--train={tiny_dataset / 'train.jsonl'}",
        f"--validation={tiny_dataset / 'validation.jsonl'}",
        f"--test={tiny_dataset / 'test.jsonl'}", f"--output_dir={ft_dir}",
        "--epochs=2", "--batch_size=8", "--noprogress",
    )
    assert "sentiment test: accuracy" in out.stdout
    for name in ("config.json", "vocab.txt", "metrics.json", "model.keras",
                 "history.json", "test_report.txt", "test_confusion_matrix.png"):
        assert (ft_dir / name).exists(), name
    config = json.loads((ft_dir / "config.json").read_text())
    assert config["head"] == "sentiment" and config["labels"] == ["negative", "positive"]

    # Export, then the fresh-process check through --verify, in one process;
    # both predict modes (an argument with --json, lines on stdin) in another.
    version = export_dir / "sentiment" / "1"
    exported, verified = run_binary_cases("kerasft-export", [
        ["--flagfile=flags/demo_export.flags", f"--model={ft_dir}",
         f"--export_dir={export_dir}", "--skip_verify"],
        [f"--verify={version}"],
    ], tmp_path)
    _assert_ok(exported)
    assert (version / "saved_model.pb").is_file()
    assert (export_dir / "models.config").is_file()
    assert _assert_ok(verified).stdout.startswith("OK:")

    as_json, from_stdin = run_binary_cases("kerasft-predict", [
        [f"--saved_model={version}", "--json", "the film is good"],
        ([f"--saved_model={version}"], "a great movie\nan awful movie\n"),
    ], tmp_path)
    pred = json.loads(_assert_ok(as_json).stdout.strip().splitlines()[-1])
    assert pred["label"] in ("negative", "positive") and len(pred["probabilities"]) == 2
    out = _assert_ok(from_stdin).stdout
    assert out.count("a great movie") == 1 and "an awful movie" in out


def _assert_ok(result):
    assert result.returncode == 0, (
        f"{result.args} failed ({result.returncode}):\n{result.stdout[-2000:]}\n"
        f"{result.stderr[-4000:]}")
    return result


def _assert_clean_error(result, *fragments):
    assert result.returncode == 2, (result.args, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, (result.args, result.stderr[-3000:])
    for fragment in fragments:
        assert fragment in result.stderr, (result.args, fragment, result.stderr[-3000:])


def _assert_help(result, *documented):
    binary = result.args[0]
    assert result.returncode in (0, 1), result.stderr[-3000:]  # absl exits 1 after --help
    text = result.stdout + result.stderr
    assert binary in text  # the module docstring is the usage text
    for flag in documented:
        assert flag in text, (binary, flag)


# One fresh process a binary runs its --help and every clean-error case
# (`run_binary_cases`): each is still the console script's `run()` from the
# command line up, at one TensorFlow import instead of one a case.


def test_finetune_help_and_clean_errors(tmp_path, tiny_dataset):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": "positive"}\n{"text": broken}\n')
    unseen = write_jsonl(tmp_path / "val.jsonl", [{"text": "meh", "label": "neutral"}])
    train, val = tiny_dataset / "train.jsonl", tiny_dataset / "validation.jsonl"
    help_, missing, bad_json, unseen_label, unknown_head, bad_strategy = run_binary_cases(
        "kerasft-finetune", [
            ["--help"],
            [f"--train={tmp_path / 'nope.jsonl'}", f"--validation={val}",
             f"--output_dir={tmp_path / 'o1'}"],
            [f"--train={bad}", f"--validation={val}", f"--output_dir={tmp_path / 'o2'}"],
            [f"--train={train}", f"--validation={unseen}", f"--output_dir={tmp_path / 'o3'}",
             "--vocabulary_size=100"],
            ["--head=poetry", f"--train={train}", f"--validation={val}"],
            ["--train=t.jsonl", "--validation=v.jsonl", "--strategy=lp",
             f"--output_dir={tmp_path / 'o4'}"],
        ], tmp_path)
    _assert_help(help_, "--head", "--train", "--backbone", "--epochs", "--patience",
                 "Registered head name")
    _assert_clean_error(missing, "kerasft-finetune: error: Data file not found", "nope.jsonl")
    _assert_clean_error(bad_json, "bad.jsonl, line 2: not valid JSON")
    _assert_clean_error(unseen_label, "val.jsonl, line 1: label 'neutral' was never seen")
    _assert_clean_error(unknown_head, "Unknown head 'poetry'", "sentiment", "kerasft.heads")
    _assert_clean_error(bad_strategy, "`strategy` must be one of")
    # Nothing half-written: the runs stopped before writing any file.
    assert [p for o in ("o1", "o2", "o3", "o4") for p in (tmp_path / o).rglob("*")] == []


def test_pretrain_help_and_clean_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    help_, no_text = run_binary_cases("kerasft-pretrain", [
        ["--help"], [f"--corpus={empty}", f"--output_dir={tmp_path / 'o'}"],
    ], tmp_path)
    _assert_help(help_, "--corpus", "--labelled_data", "--init_backbone", "--steps",
                 "--[no]resume", "Corpus spec", "The run directory")
    _assert_clean_error(no_text, "empty.txt")


def test_export_help_and_clean_error(tmp_path):
    help_, missing = run_binary_cases("kerasft-export", [["--help"], [f"--model={tmp_path}"]],
                                      tmp_path)
    _assert_help(help_, "--model", "--export_dir", "--keep", "--verify",
                 "TF Serving model base directory")
    _assert_clean_error(missing, "No model found")


def test_predict_help_and_clean_error(tmp_path):
    help_, empty = run_binary_cases("kerasft-predict", [
        ["--help"], [f"--saved_model={tmp_path}", ""],
    ], tmp_path)
    _assert_help(help_, "--saved_model", "--server", "--signature", "TF Serving REST address")
    _assert_clean_error(empty, "Text number 1 is empty")
