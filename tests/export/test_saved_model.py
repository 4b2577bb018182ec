"""Exporting a TaskModel: what TF Serving needs, checked with TF's own loaders.

The fresh-process test runs a child Python that imports only `tensorflow`
and `tensorflow_text` (never kerasft or keras-hub), as the TF Serving model
server would see the export.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import kerasft
from kerasft.export import publish as publish_lib
from kerasft.export import saved_model as saved_model_lib
from kerasft.export.saved_model import export_model

pytestmark = pytest.mark.large

TEXTS = ["the film is good", "boring , awful", "a great movie !", "zebra", ""]

# The op registry of a process that imported TF alone: TF core's op set.
CORE_OPS = r"""
import json
import tensorflow as tf
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session as c_api
buf = c_api.TF_GetAllOpList()
ops = op_def_pb2.OpList.FromString(c_api.TF_GetBuffer(buf))
print(json.dumps(sorted(op.name for op in ops.op)))
"""

CHILD = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tf.text ops)
model = tf.saved_model.load(sys.argv[1], tags=["serve"])
fn = model.signatures["serving_default"]
out = fn(text=tf.constant(json.loads(sys.argv[2])))
print(json.dumps({
    "label": [x.decode() for x in out["label"].numpy()],
    "probabilities": out["probabilities"].numpy().tolist(),
    "modules": sorted({m.split(".")[0] for m in sys.modules}),
}))
"""


@pytest.fixture(scope="module")
def exported(trained_tiny_sentiment_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("saved_models")
    path = export_model(trained_tiny_sentiment_model, root, "sentiment")
    return trained_tiny_sentiment_model, root, path


def _op_types(path: pathlib.Path) -> set[str]:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    ops = set()
    for meta in proto.meta_graphs:
        ops |= {n.op for n in meta.graph_def.node}
        for fn in meta.graph_def.library.function:
            ops |= {n.op for n in fn.node_def}
    return ops


def test_layout_is_a_numbered_version_with_warmup_and_config(exported):
    _, root, path = exported
    assert path == root / "sentiment" / "1"
    for name in ("saved_model.pb", "fingerprint.pb", "variables", "assets"):
        assert (path / name).exists(), name
    assert (path / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert (path / "assets" / "vocab.txt").read_text().split("\n")[0] == "[PAD]"
    assert "name: \"sentiment\"" in (root / "models.config").read_text()
    assert sorted(p.name for p in (root / "sentiment").iterdir()) == ["1"]


@pytest.mark.subprocess
def test_every_op_is_tf_core_or_a_covered_tf_text_op(exported):
    """Lists the graph's op types and checks them against the allow-list."""
    _, _, path = exported
    ops = _op_types(path)
    core = set(json.loads(subprocess.run(
        [sys.executable, "-P", "-c", CORE_OPS], capture_output=True, text=True,
        check=True, cwd="/", env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    ).stdout.strip().splitlines()[-1]))
    assert "MatMul" in core and "WordpieceTokenizeWithOffsets" not in core
    covered = _load_serving_check().TF_TEXT_SERVING_OPS
    outside = sorted(op for op in ops if op not in core and op not in covered)
    assert not outside, f"ops TF Serving may not link: {outside}"
    assert not ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}
    assert "FastWordpieceTokenizeWithOffsets" not in ops
    assert "RoundRobinTrim" not in ops and "TFText>RoundRobinTrim" not in ops
    assert "WordpieceTokenizeWithOffsets" in ops  # the table-based tokenizer


def _load_serving_check():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "serving_check_for_test", saved_model_lib.__file__.replace("saved_model.py", "serving_check.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.subprocess
def test_fresh_tf_only_process_serves_the_same_predictions(exported):
    model, _, path = exported
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-P", "-c", CHILD, str(path), json.dumps(TEXTS)],
        capture_output=True, text=True, env=env, cwd="/", timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert "kerasft" not in served["modules"] and "keras_hub" not in served["modules"]
    expected = model.predict_text(TEXTS)
    assert served["label"] == expected["label"].tolist()
    np.testing.assert_allclose(served["probabilities"], expected["probabilities"], atol=1e-5)


@pytest.mark.subprocess
def test_saved_model_cli_shows_a_string_batch_input(exported):
    _, _, path = exported
    cli = pathlib.Path(sys.executable).parent / "saved_model_cli"
    result = subprocess.run(
        [str(cli), "show", "--dir", str(path), "--all"],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    block = result.stdout.split("signature_def['serving_default']:")[1].split("signature_def[")[0]
    assert "inputs['text'] tensor_info:" in block
    assert "dtype: DT_STRING" in block and "shape: (-1)" in block
    assert "outputs['label']" in block and "outputs['probabilities']" in block
    assert "Method name is: tensorflow/serving/predict" in block


def test_next_export_is_version_2_and_keep_prunes(exported):
    model, root, _ = exported
    second = export_model(model, root, "sentiment", verify=False, keep=1)
    assert second.name == "2"
    assert sorted(p.name for p in (root / "sentiment").iterdir()) == ["2"]


def test_export_interrupted_after_variables_leaves_no_version(
    trained_tiny_sentiment_model, tmp_path, monkeypatch
):
    root = tmp_path / "saved_models"
    export_model(trained_tiny_sentiment_model, root, "sentiment", verify=False)

    def crash(directory, requests):
        assert (pathlib.Path(directory) / "variables").is_dir()  # variables written
        raise KeyboardInterrupt("simulated kill after variables were written")

    monkeypatch.setattr(publish_lib, "write_warmup_requests", crash)
    with pytest.raises(KeyboardInterrupt):
        export_model(trained_tiny_sentiment_model, root, "sentiment", verify=False)
    assert sorted(p.name for p in (root / "sentiment").iterdir()) == ["1"]
    loaded = tf.saved_model.load(str(root / "sentiment" / "1"))
    assert "serving_default" in loaded.signatures


def test_exported_tokens_equal_training_tokens_on_the_whole_sentiment_dataset(
    shared_data, tmp_path
):
    """Every sentence of the shared sentiment data: same ids in fit and serving.

    Uses the real 30k-piece MiniLM vocabulary (the off-the-shelf path), a tiny
    backbone, and the head's own `tf.data` pipeline for the training side.
    """
    from conftest import SENTIMENT_DIR, minilm_dir

    vocab = kerasft.tokenizers.load_vocabulary(minilm_dir() / "vocab.txt")
    pre = kerasft.TextPreprocessor(vocab, sequence_length=128)
    backbone = kerasft.build_backbone(kerasft.BackboneConfig(
        vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=8, max_sequence_length=128,
    ))
    head_cls = kerasft.get_head("sentiment")
    examples = []
    for split in ("train", "validation", "test"):
        examples += head_cls.read_examples(SENTIMENT_DIR / f"{split}.jsonl")
    assert len(examples) == 8528 + 1066 + 1068
    head = head_cls(head_cls.labels_from_examples(examples))
    model = kerasft.TaskModel(backbone, [head], pre)
    path = export_model(model, tmp_path, "tokens", verify=False)

    training_rows = []
    for features, _ in head.make_dataset(examples, pre, batch_size=512):
        ids, mask = features["token_ids"].numpy(), features["padding_mask"].numpy()
        training_rows += [row[m].tolist() for row, m in zip(ids, mask)]

    tokenize = tf.saved_model.load(str(path)).signatures["tokenize"]
    texts = [e.text for e in examples]
    served_rows = []
    for i in range(0, len(texts), 512):
        out = tokenize(text=tf.constant(texts[i:i + 512]))
        ids, n = out["token_ids"].numpy(), out["num_tokens"].numpy()
        served_rows += [row[:k].tolist() for row, k in zip(ids, n)]
    assert len(served_rows) == len(training_rows) == len(examples)
    mismatches = [i for i, (a, b) in enumerate(zip(training_rows, served_rows)) if a != b]
    assert not mismatches, f"{len(mismatches)} sentences differ, first: {texts[mismatches[0]]!r}"
    # Sanity: real tokenization happened (few unknown pieces).
    unk = vocab.index("[UNK]")
    assert sum(row.count(unk) for row in training_rows) < 0.01 * sum(map(len, training_rows))


@pytest.mark.subprocess
def test_served_accuracy_script_scores_in_a_tf_only_process(exported, tmp_path):
    # Its own export: another test of this module prunes the shared versions.
    model = exported[0]
    path = export_model(model, tmp_path / "saved_models", "sentiment", verify=False)
    data = tmp_path / "test.jsonl"
    expected = model.predict_text(TEXTS[:4])["label"].tolist()
    gold = expected[:3] + ["negative" if expected[3] == "positive" else "positive"]
    data.write_text("\ufeff" + "".join(
        json.dumps({"text": t, "label": g}) + "\r\n" for t, g in zip(TEXTS[:4], gold)))
    script = pathlib.Path(saved_model_lib.__file__).with_name("served_accuracy.py")
    result = subprocess.run(
        [sys.executable, "-P", str(script), str(path), str(data), "--json"],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        cwd="/", timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["examples"], summary["correct"], summary["accuracy"]) == (4, 3, 0.75)
    # `import tensorflow` loads keras itself; kerasft and keras-hub must not load.
    assert not {"kerasft", "keras_hub"} & set(summary["modules"])
