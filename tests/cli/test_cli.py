"""The absl binaries: help, flagfile recipes, the full chain, and clean errors."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import NEGATIVE, POSITIVE, REPO, write_jsonl

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


@pytest.mark.parametrize(
    "binary, documented",
    [
        ("kerasft-pretrain", ["--corpus", "--labelled_data", "--init_backbone", "--steps",
                              "--[no]resume", "Corpus spec", "The run directory"]),
        ("kerasft-finetune", ["--head", "--train", "--backbone", "--epochs", "--patience",
                              "Registered head name"]),
        ("kerasft-export", ["--model", "--export_dir", "--keep", "--verify",
                            "TF Serving model base directory"]),
        ("kerasft-predict", ["--saved_model", "--server", "--signature",
                             "TF Serving REST address"]),
    ],
)
def test_help_lists_documented_flags(binary, documented):
    result = run(binary, "--help", check=False)
    assert result.returncode in (0, 1)  # absl exits 1 after --help
    text = result.stdout + result.stderr
    assert binary in text  # the module docstring is the usage text
    for flag in documented:
        assert flag in text, flag


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

    # The fresh-process check runs once, below, through --verify.
    out = run("kerasft-export", "--flagfile=flags/demo_export.flags",
              f"--model={ft_dir}", f"--export_dir={export_dir}", "--skip_verify")
    assert (export_dir / "sentiment" / "1" / "saved_model.pb").is_file()
    assert (export_dir / "models.config").is_file()

    out = run("kerasft-predict", f"--saved_model={export_dir / 'sentiment' / '1'}",
              "--json", "the film is good")
    pred = json.loads(out.stdout.strip().splitlines()[-1])
    assert pred["label"] in ("negative", "positive") and len(pred["probabilities"]) == 2

    out = run("kerasft-predict", f"--saved_model={export_dir / 'sentiment' / '1'}",
              stdin="a great movie\nan awful movie\n")
    assert out.stdout.count("a great movie") == 1 and "an awful movie" in out.stdout

    out = run("kerasft-export", f"--verify={export_dir / 'sentiment' / '1'}")
    assert out.stdout.startswith("OK:")


def _assert_clean_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr[-3000:]


def test_missing_data_file_is_a_clean_error(tmp_path, tiny_dataset):
    result = run(
        "kerasft-finetune", f"--train={tmp_path / 'nope.jsonl'}",
        f"--validation={tiny_dataset / 'validation.jsonl'}", f"--output_dir={tmp_path / 'o'}",
        check=False,
    )
    _assert_clean_error(result, "kerasft-finetune: error: Data file not found", "nope.jsonl")


def test_bad_json_line_is_a_clean_error(tmp_path, tiny_dataset):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": "positive"}\n{"text": broken}\n')
    result = run(
        "kerasft-finetune", f"--train={bad}", f"--validation={tiny_dataset / 'validation.jsonl'}",
        f"--output_dir={tmp_path / 'o'}", check=False,
    )
    _assert_clean_error(result, "bad.jsonl, line 2: not valid JSON")


def test_label_unseen_in_train_is_a_clean_error(tmp_path, tiny_dataset):
    val = write_jsonl(tmp_path / "val.jsonl", [{"text": "meh", "label": "neutral"}])
    result = run(
        "kerasft-finetune", f"--train={tiny_dataset / 'train.jsonl'}", f"--validation={val}",
        f"--output_dir={tmp_path / 'o'}", "--vocabulary_size=100", check=False,
    )
    _assert_clean_error(result, "val.jsonl, line 1: label 'neutral' was never seen")


def test_unknown_head_lists_registered_heads(tmp_path, tiny_dataset):
    result = run(
        "kerasft-finetune", "--head=poetry", f"--train={tiny_dataset / 'train.jsonl'}",
        f"--validation={tiny_dataset / 'validation.jsonl'}", check=False,
    )
    _assert_clean_error(result, "Unknown head 'poetry'", "sentiment", "kerasft.heads")


def test_empty_text_to_predict_is_a_clean_error(tmp_path):
    result = run("kerasft-predict", f"--saved_model={tmp_path}", "", check=False)
    _assert_clean_error(result, "Text number 1 is empty")


def test_pretrain_without_text_is_a_clean_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    result = run("kerasft-pretrain", f"--corpus={empty}", f"--output_dir={tmp_path / 'o'}",
                 check=False)
    _assert_clean_error(result, "empty.txt")


def test_export_of_a_missing_model_is_a_clean_error(tmp_path):
    result = run("kerasft-export", f"--model={tmp_path}", check=False)
    _assert_clean_error(result, "No model found")
