"""The topic head: added as one file in heads/, trained from the CLI."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import kerasft


def test_topic_needs_three_labels():
    head_cls = kerasft.get_head("topic")
    assert head_cls(["a", "b", "c"]).num_labels == 3
    with pytest.raises(ValueError, match="at least 3 distinct labels.*--head=sentiment"):
        head_cls(["negative", "positive"])


@pytest.mark.large
def test_finetune_cli_trains_the_topic_head(tmp_path):
    data = tmp_path / "topics.jsonl"
    data.write_text(kerasft.get_head("topic").example_data[1])
    out = tmp_path / "run"
    cli = pathlib.Path(sys.executable).parent / "kerasft-finetune"
    result = subprocess.run(
        [str(cli), "--head=topic", f"--train={data}", f"--validation={data}",
         f"--output_dir={out}", "--vocabulary_size=80", "--num_layers=1",
         "--num_heads=2", "--hidden_dim=16", "--intermediate_dim=32",
         "--sequence_length=16", "--epochs=1", "--batch_size=4"],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["head"] == "topic"
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == ["politics", "science", "sports"]
    assert "topic validation: accuracy" in result.stdout
