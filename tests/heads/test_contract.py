"""Every registered head, and a third-party plugin head, passes the head contract.

The parametrization is `kerasft.available_heads()` at collection time (every
file of the in-tree `heads/` package and every installed entry point), so a
new head is tested automatically on the tiny file it declares as
`example_data`, and fails until it declares one. `toy` is a head from a
package this module builds and installs into a temporary directory, found
only through its `kerasft.heads` entry point.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from importlib import metadata

import keras
import pytest

import kerasft
from kerasft import registry, testing
from kerasft.precision import use_precision
from conftest import REPO

EXTRA_TEXTS = ["", "zebra quagga"]  # empty and all-unknown inputs must serve too

HEAD_NAMES = kerasft.available_heads()
# Every head with a choice of output layer is held to the contract with each
# non-default one too, under its own name: `NAME_prototypical`.
VARIANTS = {
    f"{name}_prototypical": (name, {"classifier": "prototypical",
                                    "name": f"{name}_prototypical"})
    for name in HEAD_NAMES
    if "classifier" in kerasft.get_head(name).trainer_options
}
# ... and every registered head built and trained in mixed bfloat16 as
# `NAME_bf16` (backbone included; its export must still give float32 outputs).
VARIANTS.update({f"{name}_bf16": (name, {"name": f"{name}_bf16"}) for name in HEAD_NAMES})

TOY_SETUP_CFG = """\
[metadata]
name = kerasft-toy-head
version = 0.1

[options]
py_modules = toy_head

[options.entry_points]
kerasft.heads =
    toy = toy_head
"""
TOY_MODULE = '''\
"""A third-party head, installed separately from kerasft."""

import kerasft


@kerasft.register_head("toy")
class ToyHead(kerasft.ClassificationHead):
    """Short vs. long texts."""

    example_data = ("tiny.jsonl", "".join(
        '{"text": "%s", "label": "%s"}\\n' % (t, "short" if len(t) < 14 else "long")
        for t in ["the film is good", "a great movie", "it was fun",
                  "an awful movie", "boring , awful", "a bad film ."]))
'''


@pytest.fixture(scope="module")
def toy_plugin(tmp_path_factory):
    """Builds and installs the toy plugin package into a tmp dir on sys.path."""
    with pytest.raises(ValueError, match="Unknown head 'toy'"):
        kerasft.get_head("toy")
    src = tmp_path_factory.mktemp("toy_src")
    (src / "setup.cfg").write_text(TOY_SETUP_CFG)
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    (src / "toy_head.py").write_text(TOY_MODULE)
    target = tmp_path_factory.mktemp("toy_site")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(target))
        yield target
    # Uninstalled again: later lookups of "toy" fail as before.
    registry._HEADS.pop("toy", None)
    sys.modules.pop("toy_head", None)


@pytest.fixture(scope="module")
def built(request, tmp_path_factory):
    """`name -> (model, examples, texts)`, built once per head on a tiny backbone."""
    cache = {}

    def get(name):
        if name in cache:
            return cache[name]
        if name == "toy":
            request.getfixturevalue("toy_plugin")
        registered, head_kwargs = VARIANTS.get(name, (name, None))
        head_cls = kerasft.get_head(registered)
        if head_cls.example_data is None:
            pytest.fail(
                f"Head {name!r} ({head_cls.__module__}) declares no tiny example "
                "data. Set the class attribute `example_data = (file_name, "
                "contents)`, a few labelled examples in the head's format, so "
                "it is held to the head contract."
            )
        file_name, contents = head_cls.example_data
        path = tmp_path_factory.mktemp(f"data_{name}") / file_name
        path.write_text(contents, encoding="utf-8")
        examples = head_cls.read_examples(path)
        keras.utils.set_random_seed(0)
        # A vocabulary of the head's own example words: the contract must
        # not depend on which words a test fixture happens to know.
        vocab = kerasft.train_wordpiece_vocabulary(
            [head_cls.example_text(e) for e in examples], 120, min_frequency=1)
        preprocessor = kerasft.TextPreprocessor(vocab, sequence_length=16)
        with use_precision("mixed_bfloat16" if name.endswith("_bf16") else "float32"):
            backbone = kerasft.build_backbone(kerasft.BackboneConfig(
                vocabulary_size=len(vocab), num_layers=1, num_heads=2,
                hidden_dim=16, intermediate_dim=32, dropout=0.0, max_sequence_length=16,
            ))
            model = testing.check_head_builds(head_cls, examples, preprocessor, backbone,
                                              head_kwargs=head_kwargs)
        texts = [head_cls.example_text(e) for e in examples[:4]] + EXTRA_TEXTS
        cache[name] = (model, examples, texts)
        return cache[name]

    return get


ALL_NAMES = HEAD_NAMES + list(VARIANTS) + ["toy"]
FLOAT32_NAMES = [n for n in ALL_NAMES if not n.endswith("_bf16")]
BF16_NAMES = [n for n in ALL_NAMES if n.endswith("_bf16")]


def test_bf16_variants_compute_in_bfloat16_with_float32_weights(built):
    assert len(BF16_NAMES) == len(HEAD_NAMES)
    for name in BF16_NAMES:
        model = built(name)[0]
        for layer in (model.backbone, model.heads[0]):
            assert layer.dtype_policy.name == "mixed_bfloat16", (name, layer.name)
        assert {w.dtype for w in model.weights} == {"float32"}, name


def test_prototypical_variants_cover_the_single_label_heads():
    # Single-label heads only: token and multi-label heads keep one layer.
    prototypical = {n for n in VARIANTS if n.endswith("_prototypical")}
    assert {"sentiment_prototypical", "style_prototypical", "topic_prototypical"} <= prototypical
    assert not any(n.startswith(("ner", "style_multilabel")) for n in prototypical)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_head_builds_and_serves_dense_batch_major_outputs(built, name):
    model, _, texts = built(name)
    outputs = model.predict_text(texts, head=name)
    assert all(v.shape[0] == len(texts) for v in outputs.values())


@pytest.mark.large
@pytest.mark.parametrize("name", ALL_NAMES)
def test_one_step_lowers_loss(built, name):
    model, examples, _ = built(name)
    # Near a flat start bfloat16's rounding hides a step's gain (seen: topic
    # 1.0985 -> 1.0988 after 3 steps); it gets more steps to show one.
    steps = 10 if name.endswith("_bf16") else 3
    before, after = testing.check_one_step_lowers_loss(model, examples, max_steps=steps)
    assert after < before


@pytest.mark.large
@pytest.mark.parametrize("name", ALL_NAMES)
def test_calibrate_evaluate_and_reports(built, name, tmp_path):
    model, examples, _ = built(name)
    report = testing.check_reports(model, examples, tmp_path)
    head = model.heads[0]
    assert 0.0 <= report[head.primary_metric] <= 1.0
    assert head.summarize(report).startswith(head.summary_metrics[0])


@pytest.mark.large
@pytest.mark.parametrize("name", ALL_NAMES)
def test_keras_round_trip_gives_identical_predictions(built, name, tmp_path):
    model, _, texts = built(name)
    testing.check_keras_round_trip(model, texts, tmp_path)


def _one_model_of(built, names):
    """One TaskModel with the heads of `names` on the first one's backbone."""
    first = built(names[0])[0]
    backbone = type(first.backbone).from_config(first.backbone.get_config())
    heads = [type(h).from_config(h.get_config())
             for h in (built(name)[0].heads[0] for name in names)]
    return kerasft.TaskModel(backbone, heads, first.preprocessor)


@pytest.mark.large
def test_every_head_exports_and_serves_in_one_fresh_tf_only_process(built, tmp_path):
    # One SavedModel with every head (one signature each) on one backbone:
    # the multi-head layout kerasft exports, checked with one export and
    # one fresh process instead of one per head; the same for the heads
    # built in mixed bfloat16 on a bfloat16 backbone (float32 outputs).
    model = _one_model_of(built, FLOAT32_NAMES)
    with use_precision("mixed_bfloat16"):
        model_bf16 = _one_model_of(built, BF16_NAMES)
    texts = sorted({t for name in ALL_NAMES for t in built(name)[2]})
    result = testing.check_export_and_serve(
        {"all_heads": model, "all_heads_bf16": model_bf16}, texts, tmp_path)
    assert set(result["all_heads"]["outputs"]) == set(FLOAT32_NAMES) | {"serving_default", "tokenize"}
    assert set(result["all_heads_bf16"]["outputs"]) == set(BF16_NAMES) | {"serving_default", "tokenize"}
    assert (tmp_path / "models.config").is_file()
    # The backbone is stored once however many signatures use it: the export
    # holds exactly the model's variables (backbone + each head's layers).
    import numpy as np
    import tensorflow as tf

    stored = tf.train.list_variables(str(tmp_path / "all_heads" / "1" / "variables" / "variables"))
    stored_params = sum(int(np.prod(shape)) for key, shape in stored
                        if key.endswith(".ATTRIBUTES/VARIABLE_VALUE"))
    assert stored_params == model.count_params()
    assert stored_params < 2 * model.backbone.count_params()


def test_every_in_tree_head_file_is_found_without_an_entry_point():
    # REPO/heads, not `import heads`: under pytest, tests/heads can make
    # `heads` a namespace package.
    modules = {f"heads.{p.stem}" for p in (REPO / "heads").glob("*.py")
               if p.stem != "__init__"}
    assert set(registry.in_tree_head_modules()) == modules
    found = {sys.modules[kerasft.get_head(n).__module__].__name__ for n in HEAD_NAMES}
    assert modules <= found
    declared = {ep.value.partition(":")[0].strip()
                for ep in metadata.entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert "heads.topic" not in declared  # added as one file, nothing else


def test_plugin_head_resolves_only_after_install(toy_plugin):
    assert "toy" in kerasft.available_heads()
    head_cls = kerasft.get_head("toy")
    assert issubclass(head_cls, kerasft.ClassificationHead)
    assert pathlib.Path(sys.modules[head_cls.__module__].__file__).parent == toy_plugin


@pytest.mark.large
def test_finetune_cli_finds_the_plugin_head(toy_plugin, tmp_path):
    data = tmp_path / "toy.jsonl"
    data.write_text(kerasft.get_head("toy").example_data[1])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(toy_plugin), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "run"
    cli = pathlib.Path(sys.executable).parent / "kerasft-finetune"
    result = subprocess.run(
        [str(cli), "--head=toy", f"--train={data}", f"--validation={data}",
         f"--output_dir={out}", "--vocabulary_size=60", "--num_layers=1",
         "--num_heads=2", "--hidden_dim=16", "--intermediate_dim=32",
         "--sequence_length=16", "--epochs=1", "--batch_size=8"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["head"] == "toy"
