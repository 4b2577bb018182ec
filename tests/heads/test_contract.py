"""Every registered head, and a third-party plugin head, passes the head contract.

The parametrization is `kerasft.available_heads()` at collection time, so
a newly installed head is tested automatically and fails until it gets tiny
data in `TINY_DATA`; an in-tree head module without an entry point fails
`test_every_in_tree_head_module_is_declared_as_an_entry_point`. `toy` is a head from a package this
module builds and installs into a temporary directory, found only through
its `kerasft.heads` entry point.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
from importlib import metadata

import keras
import pytest

import kerasft
from kerasft import registry, testing
from conftest import NEGATIVE, POSITIVE, REPO, TINY_VOCAB

SHAKESPEARE = [
    "thou art a villain .", "what say'st thou ?", "I prithee , speak .",
    "wherefore art thou here ?", "hark , the bell doth ring .", "get thee gone !",
]
MODERN = [
    "you are a villain .", "what do you say ?", "please , speak .",
    "why are you here ?", "listen , the bell is ringing .", "go away !",
]


def _jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


def _multilabel(text):
    labels = [name for name, on in (
        ("archaic", text in SHAKESPEARE), ("question", text.endswith("?"))) if on]
    return {"text": text, "labels": labels}


# Tiny examples per head name: (file name, file contents in the head's format).
TINY_DATA = {
    "sentiment": ("tiny.jsonl", _jsonl(
        [{"text": t, "label": "positive"} for t in POSITIVE]
        + [{"text": t, "label": "negative"} for t in NEGATIVE])),
    "style": ("tiny.jsonl", _jsonl(
        [{"text": t, "label": "shakespeare"} for t in SHAKESPEARE]
        + [{"text": t, "label": "modern"} for t in MODERN])),
    "style_multilabel": ("tiny.jsonl", _jsonl(
        [_multilabel(t) for t in SHAKESPEARE + MODERN])),
    "ner": ("tiny.conll", textwrap.dedent("""\
        -DOCSTART- -X- -X- O

        EU NNP B-NP B-ORG
        rejects VBZ B-VP O
        German JJ B-NP B-MISC
        call NN I-NP O
        . . O O

        Peter NNP B-NP B-PER
        Blackburn NNP I-NP I-PER

        the DT B-NP O
        film NN I-NP O
        was VBD B-VP O
        shot VBN I-VP O
        in IN B-PP O
        Paris NNP B-NP B-LOC
        . . O O

        BRUSSELS NNP B-NP B-LOC
        1996-08-22 CD I-NP O
        """)),
    "toy": ("tiny.jsonl", _jsonl(
        [{"text": t, "label": "short" if len(t) < 14 else "long"}
         for t in POSITIVE + NEGATIVE])),
}
EXTRA_TEXTS = ["", "zebra quagga"]  # empty and all-unknown inputs must serve too

# Installed heads only: a head still being written (in TINY_DATA ahead of
# time) joins as soon as its entry point exists; see the entry-point test.
HEAD_NAMES = kerasft.available_heads()

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
        if name not in TINY_DATA:
            pytest.fail(
                f"Head {name!r} is registered but has no tiny example data. Add "
                f"an entry `{name!r}: (file_name, contents)` to TINY_DATA in "
                f"{__file__} so it is held to the head contract."
            )
        if name == "toy":
            request.getfixturevalue("toy_plugin")
        head_cls = kerasft.get_head(name)
        file_name, contents = TINY_DATA[name]
        path = tmp_path_factory.mktemp(f"data_{name}") / file_name
        path.write_text(contents, encoding="utf-8")
        examples = head_cls.read_examples(path)
        keras.utils.set_random_seed(0)
        preprocessor = kerasft.TextPreprocessor(TINY_VOCAB, sequence_length=16)
        backbone = kerasft.build_backbone(kerasft.BackboneConfig(
            vocabulary_size=len(TINY_VOCAB), num_layers=1, num_heads=2,
            hidden_dim=16, intermediate_dim=32, dropout=0.0, max_sequence_length=16,
        ))
        model = testing.check_head_builds(head_cls, examples, preprocessor, backbone)
        texts = [head_cls.example_text(e) for e in examples[:4]] + EXTRA_TEXTS
        cache[name] = (model, examples, texts)
        return cache[name]

    return get


ALL_NAMES = HEAD_NAMES + ["toy"]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_head_builds_and_serves_dense_batch_major_outputs(built, name):
    model, _, texts = built(name)
    outputs = model.predict_text(texts, head=name)
    assert all(v.shape[0] == len(texts) for v in outputs.values())


@pytest.mark.large
@pytest.mark.parametrize("name", ALL_NAMES)
def test_one_step_lowers_loss(built, name):
    model, examples, _ = built(name)
    before, after = testing.check_one_step_lowers_loss(model, examples)
    assert after < before


@pytest.mark.large
@pytest.mark.parametrize("name", ALL_NAMES)
def test_calibrate_evaluate_and_reports(built, name, tmp_path):
    model, examples, _ = built(name)
    report = testing.check_reports(model, examples, tmp_path)
    assert report


@pytest.mark.large
@pytest.mark.parametrize("name", ALL_NAMES)
def test_keras_round_trip_gives_identical_predictions(built, name, tmp_path):
    model, _, texts = built(name)
    testing.check_keras_round_trip(model, texts, tmp_path)


@pytest.mark.large
def test_every_head_exports_and_serves_in_one_fresh_tf_only_process(built, tmp_path):
    # One SavedModel with every head (one signature each) on one backbone:
    # the multi-head layout kerasft exports, checked with one export and
    # one fresh process instead of one per head.
    first = built(ALL_NAMES[0])[0]
    backbone = type(first.backbone).from_config(first.backbone.get_config())
    heads = [type(h).from_config(h.get_config())
             for h in (built(name)[0].heads[0] for name in ALL_NAMES)]
    model = kerasft.TaskModel(backbone, heads, first.preprocessor)
    texts = sorted({t for name in ALL_NAMES for t in built(name)[2]})
    result = testing.check_export_and_serve({"all_heads": model}, texts, tmp_path)
    assert set(result["all_heads"]["outputs"]) == set(ALL_NAMES) | {"serving_default", "tokenize"}
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


def test_every_in_tree_head_module_is_declared_as_an_entry_point():
    # REPO/heads, not `import heads`: under pytest, tests/heads can make
    # `heads` a namespace package.
    modules = {f"heads.{p.stem}" for p in (REPO / "heads").glob("*.py")
               if p.stem != "__init__"}
    declared = {ep.value.partition(":")[0].strip()
                for ep in metadata.entry_points(group=registry.ENTRY_POINT_GROUP)}
    missing = sorted(modules - declared)
    assert not missing, (
        f"In-tree head modules without a `{registry.ENTRY_POINT_GROUP}` entry point: "
        f"{missing}. Add `NAME = MODULE` for each registered name under "
        "[options.entry_points] in setup.cfg, then reinstall (`pip install -e .`)."
    )


def test_plugin_head_resolves_only_after_install(toy_plugin):
    assert "toy" in kerasft.available_heads()
    head_cls = kerasft.get_head("toy")
    assert issubclass(head_cls, kerasft.ClassificationHead)
    assert pathlib.Path(sys.modules[head_cls.__module__].__file__).parent == toy_plugin


@pytest.mark.large
def test_finetune_cli_finds_the_plugin_head(toy_plugin, tmp_path):
    data = tmp_path / "toy.jsonl"
    data.write_text(TINY_DATA["toy"][1])
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
