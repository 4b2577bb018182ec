"""Strategy flags of kerasft-finetune and kerasft-imbalance, end to end."""

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


def run(binary, *args):
    return subprocess.run(
        [str(BIN / binary), *map(str, args)], capture_output=True, text=True,
        cwd=REPO, env=ENV, timeout=600,
    )


@pytest.mark.large
def test_gradual_unfreezing_focal_cosine_from_flags(tmp_path):
    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [
        {"text": t, "label": "negative"} for t in NEGATIVE
    ]
    data = {s: write_jsonl(tmp_path / f"{s}.jsonl", rows) for s in ("train", "validation")}
    out = tmp_path / "run"
    result = run(
        "kerasft-finetune", f"--train={data['train']}", f"--validation={data['validation']}",
        f"--output_dir={out}", "--strategy=gradual_unfreezing", "--unfreeze_every_epochs=1",
        "--loss=focal", "--focal_gamma=1.5", "--schedule=cosine", "--layerwise_decay=0.9",
        "--monitor=macro_f1", "--patience=5", "--epochs=3", "--batch_size=8",
        "--vocabulary_size=100", "--num_layers=2", "--num_heads=2", "--hidden_dim=16",
        "--intermediate_dim=32", "--sequence_length=16", "--pooling=mean", "--noprogress",
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "sentiment validation: accuracy" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert (config["strategy"], config["loss"], config["focal_gamma"]) == (
        "gradual_unfreezing", "focal", 1.5)
    assert (config["schedule"], config["layerwise_decay"]) == ("cosine", 0.9)
    history = json.loads((out / "history.json").read_text())
    # Two transformer layers + embeddings: one more block thawed each epoch.
    assert history["unfrozen_blocks"] == [0, 1, 2]
    assert len(history["val_macro_f1"]) == 3


def test_imbalance_help_lists_its_and_the_finetune_flags():
    # `-m` rather than the console script, which needs a reinstall to appear.
    result = subprocess.run(
        [sys.executable, "-m", "kerasft.cli.imbalance", "--help"],
        capture_output=True, text=True, cwd=REPO, env=ENV, timeout=600,
    )
    text = result.stdout + result.stderr
    for fragment in ("kerasft-imbalance", "--minority_label", "--fraction", "--seeds",
                     "--strategy", "--stage1_loss", "--monitor"):
        assert fragment in text, fragment
