"""Contract checks every head must pass, for kerasft's tests and plugin authors.

One helper per contract, each raising `AssertionError` with a message that
says what broke and how to fix it, so a plugin's test suite is a few lines:

```python
from kerasft import testing

examples = MyHead.read_examples("tests/tiny.jsonl")
model = testing.check_head_builds(MyHead, examples, preprocessor, backbone)
testing.check_one_step_lowers_loss(model, examples)
testing.check_reports(model, examples, tmp_dir)
testing.check_keras_round_trip(model, texts, tmp_dir)
testing.check_export_and_serve({"my_head": model}, texts, export_root)
```

The models are expected to be tiny (a 1-2 layer, 16-wide backbone); these are
checks of plumbing, not of accuracy.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasft.head import Head
from kerasft.task import TaskModel, load_model
from kerasft.tokenizers import TextPreprocessor


def _batch(model: TaskModel, head: Head, examples: Sequence):
    """The first batch of `head.make_dataset` over all `examples` at once."""
    ds = head.make_dataset(examples, model.preprocessor, batch_size=len(examples))
    batch = next(iter(ds))
    if not isinstance(batch, tuple) or len(batch) not in (2, 3):
        raise AssertionError(
            f"{head.name}: `make_dataset` must yield `(features, targets)` or "
            f"`(features, targets, sample_weights)`. Received a "
            f"{type(batch).__name__} of {len(batch) if isinstance(batch, tuple) else '?'} items."
        )
    return batch


def _to_numpy(outputs: Mapping) -> dict:
    return {
        k: (np.char.decode(v.numpy().astype(bytes), "utf-8")
            if v.dtype == tf.string else v.numpy())
        for k, v in outputs.items()
    }


def _dtype_name(array: np.ndarray) -> str:
    return "string" if array.dtype.kind in "USO" else tf.as_dtype(array.dtype).name


def output_tolerance(model: TaskModel) -> dict:
    """How closely two runs of `model`'s serving outputs must agree.

    Returns keyword arguments for `assert_outputs_equal`. float32: floats
    within 1e-5 and every label equal. bfloat16 (8 bits of mantissa): eager,
    traced and exported graphs round differently (oneDNN fuses other ops in
    a loaded SavedModel; seen 2e-4 on probabilities), so floats within 2e-2,
    and an argmax between near-tied logits of an untrained head may flip:
    up to 5% of the label elements may differ (seen in CI: one NER tag).
    """
    if model.backbone.compute_dtype == "float32":
        return {"atol": 1e-5, "max_discrete_mismatch": 0.0}
    return {"atol": 2e-2, "max_discrete_mismatch": 0.05}


def assert_outputs_equal(expected: Mapping, actual: Mapping, context: str, *, atol: float = 1e-5,
                         max_discrete_mismatch: float = 0.0) -> None:
    """Same keys, shapes and dtypes kinds; strings/ints equal, floats close.

    Args:
        expected: `{output_name: array}` (numpy or tensors).
        actual: `{output_name: array}` to compare.
        context: what is being compared, for the failure message.
        atol: absolute tolerance for floating-point outputs.
        max_discrete_mismatch: share of the elements of a string or integer
            output that may differ (0: all equal).

    Example:
    >>> assert_outputs_equal({"p": [0.5]}, {"p": [0.5]}, "demo")
    """
    if sorted(expected) != sorted(actual):
        raise AssertionError(
            f"{context}: output names differ. Expected {sorted(expected)}, "
            f"received {sorted(actual)}."
        )
    for key in expected:
        e, a = np.asarray(expected[key]), np.asarray(actual[key])
        if e.shape != a.shape:
            raise AssertionError(
                f"{context}: output `{key}` has shape {a.shape}, expected {e.shape}."
            )
        if e.dtype.kind == "f" or a.dtype.kind == "f":
            np.testing.assert_allclose(
                a.astype(float), e.astype(float), atol=atol,
                err_msg=f"{context}: output `{key}` differs",
            )
        elif e.tolist() != a.tolist():
            differ = int(np.sum(e != a))
            if differ > max_discrete_mismatch * max(e.size, 1):
                raise AssertionError(
                    f"{context}: output `{key}` differs in {differ} of {e.size} elements "
                    f"(at most {max_discrete_mismatch:.0%} may). Expected {e.tolist()}, "
                    f"received {a.tolist()}."
                )


def check_head_builds(
    head_cls: type,
    examples: Sequence,
    preprocessor: TextPreprocessor,
    backbone: keras.Model,
    *,
    head_kwargs: Mapping | None = None,
) -> TaskModel:
    """Build `head_cls` from examples on `backbone`; check data, config, call, serve.

    Checks: a deterministic label vocabulary of strings, `example_text`
    strings, a `get_config`/`from_config` round trip, `encode` and
    `make_dataset` shapes, logits with one row per text, a finite default
    loss, and `postprocess` outputs that are dense, batch-major and identical
    eagerly and inside a `tf.function` (as in a SavedModel signature).

    Args:
        head_cls: the head class (e.g. `kerasft.get_head("style")`).
        examples: a few examples as returned by `head_cls.read_examples`.
        preprocessor: the `TextPreprocessor` of `backbone`.
        backbone: a (tiny) backbone.
        head_kwargs: extra constructor arguments for the head.

    Returns:
        The one-head `TaskModel` (uncompiled).

    Example:
    >>> model = check_head_builds(SentimentHead, examples, pre, backbone)  # doctest: +SKIP
    """
    name = getattr(head_cls, "registered_name_", head_cls.__name__)
    if not (isinstance(head_cls, type) and issubclass(head_cls, Head)):
        raise AssertionError(f"`head_cls` must subclass kerasft.Head. Received: {head_cls!r}.")
    examples = list(examples)
    if len(examples) < 2:
        raise AssertionError(f"{name}: pass at least 2 examples. Received: {len(examples)}.")
    labels = head_cls.labels_from_examples(examples)
    if not labels or not all(isinstance(x, str) for x in labels):
        raise AssertionError(f"{name}: `labels_from_examples` must return a list of strings. Received: {labels!r}.")
    if head_cls.labels_from_examples(examples[::-1]) != labels:
        raise AssertionError(
            f"{name}: `labels_from_examples` depends on example order; sort the "
            "vocabulary so runs are reproducible."
        )
    for e in examples:
        if not isinstance(head_cls.example_text(e), str):
            raise AssertionError(f"{name}: `example_text` must return a str. Received: {head_cls.example_text(e)!r}.")

    head = head_cls(labels=labels, **(head_kwargs or {}))
    config = head.get_config()
    json.dumps(config)  # Configs go into .keras files as JSON.
    if head_cls.from_config(config).get_config() != config:
        raise AssertionError(
            f"{name}: `from_config(get_config())` does not rebuild the same head: "
            f"{config} became {head_cls.from_config(config).get_config()}. Add "
            "every constructor argument to `get_config`."
        )

    texts, _ = head.encode(examples)
    if len(texts) != len(examples):
        raise AssertionError(f"{name}: `encode` returned {len(texts)} texts for {len(examples)} examples.")
    model = TaskModel(backbone, [head], preprocessor)
    batch = _batch(model, head, examples)
    features, targets = batch[0], batch[1]
    if not isinstance(targets, Mapping) or head.name not in targets:
        raise AssertionError(
            f"{name}: `make_dataset` targets must be a dict keyed by the head "
            f"name {head.name!r}. Received: {targets!r}."
        )
    logits = model(features, training=False)[head.name]
    if logits.shape[0] != len(examples):
        raise AssertionError(f"{name}: logits have shape {logits.shape}; expected one row per text ({len(examples)}).")
    weights = batch[2][head.name] if len(batch) == 3 and isinstance(batch[2], Mapping) else (
        batch[2] if len(batch) == 3 else None)
    loss = float(head.loss()(targets[head.name], logits, sample_weight=weights))
    if not math.isfinite(loss):
        raise AssertionError(f"{name}: the default loss is not finite ({loss}) on an untrained model.")
    for metric in head.metrics_list():
        if not isinstance(metric, keras.metrics.Metric):
            raise AssertionError(f"{name}: `metrics_list` must return keras metrics. Received: {metric!r}.")

    sample = [head_cls.example_text(e) for e in examples]
    eager = model.serve(tf.constant(sample))[head.name]
    for key, value in eager.items():
        if not isinstance(value, tf.Tensor) or isinstance(value, (tf.RaggedTensor, tf.SparseTensor)):
            raise AssertionError(
                f"{name}: serving output `{key}` is a {type(value).__name__}; TF "
                "Serving needs dense tensors. Pad it and add a mask or length."
            )
        if value.shape.rank == 0 or value.shape[0] != len(sample):
            raise AssertionError(
                f"{name}: serving output `{key}` has shape {value.shape}; the first "
                f"dimension must be the batch ({len(sample)} texts)."
            )
    graph = tf.function(
        lambda text: model.serve(text, heads=[head.name])[head.name],
        input_signature=[tf.TensorSpec([None], tf.string)],
    )(tf.constant(sample))
    assert_outputs_equal(_to_numpy(eager), _to_numpy(graph), f"{name}: eager vs tf.function serve",
                         **output_tolerance(model))
    return model


def check_one_step_lowers_loss(
    model: TaskModel,
    examples: Sequence,
    *,
    head: str | None = None,
    learning_rate: float = 1e-3,
    max_steps: int = 3,
) -> tuple[float, float]:
    """Optimizer steps on a small batch lower that batch's loss (one usually does).

    Compiles `model` (Adam, the heads' default losses, eager: tracing a
    train step would cost more than the step), so pass a model you do not
    mind recompiling.

    Args:
        model: a `TaskModel`.
        examples: the batch, in the head's example format.
        head: the head to train; defaults to the first.
        learning_rate: Adam's step size.
        max_steps: steps allowed before the loss must be lower.

    Returns:
        `(loss_before, loss_after)`.

    Example:
    >>> before, after = check_one_step_lowers_loss(model, examples)  # doctest: +SKIP
    """
    target = model.head(head or model.heads[0].name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={h.name: (h.loss() if h is target else None) for h in model.heads},
        run_eagerly=True,
    )
    batch = _batch(model, target, examples)
    before = float(model.test_on_batch(*batch, return_dict=True)["loss"])
    # A step is taken with dropout on and measured with it off, so near a
    # flat start one step can go up by noise; a few must go down.
    for _ in range(max_steps):
        model.train_on_batch(*batch)
        after = float(model.test_on_batch(*batch, return_dict=True)["loss"])
        if after < before:
            break
    else:
        raise AssertionError(
            f"{target.name}: {max_steps} optimizer steps did not lower the batch "
            f"loss ({before:.6f} -> {after:.6f}). Check that `call` uses the "
            "backbone feature, `loss` matches the logits, and `encode` the targets."
        )
    return before, after


def check_reports(model: TaskModel, examples: Sequence, directory: str | os.PathLike, *, head: str | None = None) -> dict:
    """`calibrate`, `evaluate` and `write_reports` work and are JSON-able.

    Args:
        model: a `TaskModel`.
        examples: labelled examples standing in for validation and test.
        directory: where reports are written.
        head: the head to check; defaults to the first.

    Returns:
        The evaluation report.

    Example:
    >>> report = check_reports(model, examples, tmp_path)  # doctest: +SKIP
    """
    from kerasft.evaluation.predict import predict_split

    target = model.head(head or model.heads[0].name)
    targets, logits = predict_split(model, target.name, examples)
    calibration = target.calibrate(targets, logits, examples)
    json.dumps(calibration)  # Recorded in metrics.json.
    target.from_config(target.get_config())  # Calibrated values stay valid config.
    report = target.evaluate(targets, logits, examples)
    if not isinstance(report, dict):
        raise AssertionError(f"{target.name}: `evaluate` must return a dict. Received: {type(report).__name__}.")
    json.dumps(report)
    os.makedirs(directory, exist_ok=True)
    for path in target.write_reports(report, os.fspath(directory), prefix="test"):
        if not os.path.isfile(path):
            raise AssertionError(f"{target.name}: `write_reports` returned {path!r}, which does not exist.")
    return report


def check_keras_round_trip(model: TaskModel, texts: Sequence[str], tmp_dir: str | os.PathLike) -> TaskModel:
    """Save to `.keras`, load with `kerasft.load_model`, get identical predictions.

    Also checks that every head's config (labels, thresholds, ...) survives.

    Args:
        model: a `TaskModel` with a preprocessor.
        texts: raw texts to predict on.
        tmp_dir: a directory for the `.keras` file.

    Returns:
        The loaded model.

    Example:
    >>> loaded = check_keras_round_trip(model, ["some text"], tmp_path)  # doctest: +SKIP
    """
    path = os.path.join(os.fspath(tmp_dir), f"{model.heads[0].name}_round_trip.keras")
    model.save(path)
    loaded = load_model(path, compile=False)
    for h in model.heads:
        if loaded.head(h.name).get_config() != h.get_config():
            raise AssertionError(
                f"{h.name}: the head config changed in a .keras round trip: "
                f"{h.get_config()} became {loaded.head(h.name).get_config()}."
            )
    text = tf.constant(list(texts))
    expected, actual = model.serve(text), loaded.serve(text)
    for h in model.heads:
        assert_outputs_equal(
            _to_numpy(expected[h.name]), _to_numpy(actual[h.name]),
            f"{h.name}: .keras round trip", **output_tolerance(model),
        )
    return loaded


# Runs in a fresh interpreter that imports only TensorFlow, tensorflow-text
# and the standalone serving_check.py, as close to the model server as we
# get without it. One process checks every export, because each TF start-up
# costs seconds on small machines.
_SERVE_CHILD = r"""
import importlib.util, json, sys
request = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location("serving_check", request["serving_check"])
sc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sc)
ops = sc.core_and_text_ops()  # must precede any tensorflow_text import
sc.core_and_text_ops = lambda: ops  # check() asks again for each export
import numpy as np
import tensorflow as tf
# check() loads each export; keep that object rather than loading (and
# warming up) a second copy, which costs seconds per export.
_load, _loaded = tf.saved_model.load, {}
tf.saved_model.load = lambda path, tags=None, **kw: _loaded.setdefault(path, _load(path, tags=tags, **kw))
decode = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])
texts = tf.constant(request["texts"])
result = {}
for export in request["exports"]:
    summary = sc.check(export["path"])
    loaded = tf.saved_model.load(export["path"], tags=["serve"])
    if not summary["ok"] and export["path"] not in _loaded:
        result[export["name"]] = {"ok": False, "failures": summary["failures"]}
        continue
    outputs = {}
    for sig in export["signatures"]:
        out = loaded.signatures[sig](text=texts)
        outputs[sig] = {
            k: {"dtype": v.dtype.name, "value": decode(v.numpy()).tolist() if v.dtype == tf.string else v.numpy().tolist()}
            for k, v in out.items()
        }
    result[export["name"]] = {"ok": summary["ok"], "failures": summary["failures"],
                              "tf_text_ops": summary["tf_text_ops"], "outputs": outputs}
result["modules"] = sorted({m.partition(".")[0] for m in sys.modules})
print(json.dumps(result))
"""


def check_export_and_serve(
    models: TaskModel | Mapping[str, TaskModel],
    texts: Sequence[str],
    export_root: str | os.PathLike,
    *,
    timeout: float = 900.0,
) -> dict:
    """Export each model, serve it in a fresh TF-only process, compare outputs.

    Every model is exported with `kerasft.export.saved_model.export_model`
    (verification deferred to this check), then ONE fresh process that imports
    only tensorflow and tensorflow_text runs the TF Serving checks of
    `serving_check.py` (op allow-list, dense batch-major outputs, warmup
    replay) on each export and calls every head's signature, `serving_default`
    and `tokenize`. Each head's outputs must equal in-process `model.serve`.

    Args:
        models: a `TaskModel`, or `{export_name: TaskModel}` to check several
            in one process.
        texts: raw texts (also written as warmup requests).
        export_root: the TF Serving base directory to export into.
        timeout: seconds before the child process is abandoned.

    Returns:
        The child's findings: per export name `ok`, `failures`, `tf_text_ops`
        and `outputs`; plus `modules`, the top-level modules it imported.

    Example:
    >>> check_export_and_serve({"style": model}, ["Thou art"], tmp_path)  # doctest: +SKIP
    """
    from kerasft.export.saved_model import export_model
    from kerasft.export.verify import SERVING_CHECK_SCRIPT

    if isinstance(models, TaskModel):
        models = {models.heads[0].name: models}
    texts = list(texts)
    exports = []
    for name, model in models.items():
        path = export_model(model, export_root, name, verify=False, warmup_texts=texts)
        signatures = [h.name for h in model.heads] + ["serving_default", "tokenize"]
        exports.append({"name": name, "path": os.fspath(path), "signatures": signatures})
    request = {"serving_check": os.fspath(SERVING_CHECK_SCRIPT), "texts": texts, "exports": exports}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    # -P and cwd="/": nothing from the repository shadows the real packages.
    child = subprocess.run(
        [sys.executable, "-P", "-c", _SERVE_CHILD, json.dumps(request)],
        capture_output=True, text=True, env=env, cwd="/", timeout=timeout,
    )
    if child.returncode != 0:
        raise AssertionError(f"The fresh TF-only process failed:\n{child.stderr[-4000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    leaked = {"kerasft", "keras_hub"} & set(result["modules"])
    if leaked:
        raise AssertionError(f"The serving process imported {sorted(leaked)}; it must need only TF and tf.text.")
    for name, model in models.items():
        found = result[name]
        if not found["ok"]:
            raise AssertionError(
                f"Export {name!r} fails the TF Serving checks:\n- " + "\n- ".join(found["failures"])
            )
        expected = model.serve(tf.constant(texts))
        for h in model.heads:
            want = _to_numpy(expected[h.name])
            for sig in (h.name, "serving_default") if h is model.heads[0] else (h.name,):
                got = found["outputs"][sig]
                for key, value in got.items():
                    if key in want and value["dtype"] != _dtype_name(want[key]):
                        raise AssertionError(
                            f"Export {name!r}, signature `{sig}`: output `{key}` is "
                            f"{value['dtype']}, in-process serve gives {want[key].dtype}."
                        )
                    if value["dtype"] in ("bfloat16", "float16"):
                        raise AssertionError(
                            f"Export {name!r}, signature `{sig}`: output `{key}` is "
                            f"{value['dtype']}; serving outputs must be float32 whatever "
                            "the model computes in (cast before `postprocess`).")
                assert_outputs_equal(
                    want, {k: v["value"] for k, v in got.items()},
                    f"Export {name!r}, signature `{sig}` vs in-process serve",
                    **output_tolerance(model),
                )
    return result
