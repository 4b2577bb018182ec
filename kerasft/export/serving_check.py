"""Check that a SavedModel will load and answer in TF Serving.

A standalone script, run in its own process so that nothing but TensorFlow
and tensorflow-text is loaded, as in the model server:

    python serving_check.py SAVED_MODEL_DIR [--json]

It checks that:
- every op type in the graph (top-level nodes and every library function) is
  in the allow-list: ops registered by TF core (read before tensorflow-text is
  imported) plus the tensorflow-text ops that TF Serving links and exercises
  in its regression test. Python ops (`tf.py_function`, `tf.numpy_function`)
  are never allowed;
- the SavedModel loads with the `serve` tag;
- no SignatureDef tensor is `DT_INVALID` (a ragged output, not servable);
- every signature takes a `text` string batch, and every output keeps the
  input's batch dimension (REST "instances" requests need it);
- every warmup request in `assets.extra/tf_serving_warmup_requests` replays.

It prints a report and exits 1 on failure. With `--json`, the last line of
stdout is a JSON summary (including the top-level modules it imported).

This file must import only the standard library, `tensorflow`,
`tensorflow_text` and the `tensorflow_serving.apis` protos: never kerasft,
keras_hub or keras (though `import tensorflow` itself loads keras).
"""

import os
import sys

# Running `python .../kerasft/export/serving_check.py` puts this directory
# first on sys.path, where sibling modules could shadow real packages.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402

# tensorflow-text ops exercised by tensorflow/text's
# oss_scripts/model_server/save_models.py, the model server's regression test
# (TF Serving links `@org_tensorflow_text//tensorflow_text:ops_lib`).
TF_TEXT_SERVING_OPS = frozenset(
    {
        # case_fold_utf8, normalize_utf8 (BertTokenizer's normalization)
        "CaseFoldUTF8",
        "NormalizeUTF8",
        # regex_split (BertTokenizer's basic tokenizer)
        "RegexSplitWithOffsets",
        # table-based WordpieceTokenizer (BertTokenizer)
        "WordpieceTokenizeWithOffsets",
        # SentencepieceTokenizer: tokenize, detokenize, with offsets,
        # vocab_size, id_to_string; string_to_id lives in the same kernel file.
        "SentencepieceOp",
        "SentencepieceTokenizeOp",
        "SentencepieceTokenizeWithOffsetsOp",
        "SentencepieceDetokenizeOp",
        "SentencepieceVocabSizeOp",
        "SentencepieceIdToStringOp",
        "SentencepieceStringToIdOp",
        # whitespace tokenizer (V2 is what WhitespaceTokenizer emits)
        "WhitespaceTokenizeWithOffsets",
        "TFText>WhitespaceTokenizeWithOffsetsV2",
        "UnicodeScriptTokenizeWithOffsets",
        "SplitMergeTokenizeWithOffsets",
        "RougeL",
        "SentenceFragments",
        "ConstrainedSequence",
        "MaxSpanningTree",
        # wordshape is built from TF core regex ops.
    }
)

# Registered by TF core, but the model server runs no Python.
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})

_FASTWORDPIECE_FIX = (
    "tokenize with tf_text.BertTokenizer (the table-based WordpieceTokenizer) "
    "instead of FastWordpieceTokenizer / FastBertTokenizer; keras-hub's "
    "WordPieceTokenizer emits this op"
)
_ROUND_ROBIN_FIX = (
    "trim with tf_text.WaterfallTrimmer and pack with tf_text.combine_segments "
    "and pad_model_inputs instead of RoundRobinTrimmer; keras-hub's "
    "MultiSegmentPacker emits this op"
)
_FAST_SENTENCEPIECE_FIX = (
    "use tf_text.SentencepieceTokenizer instead of FastSentencepieceTokenizer"
)
_PYTHON_FIX = (
    "remove tf.py_function / tf.numpy_function from the serving graph (the "
    "model server runs no Python); express the computation with TF ops"
)
FIX_HINTS = {
    "FastWordpieceTokenizeWithOffsets": _FASTWORDPIECE_FIX,
    "TFText>FastWordpieceDetokenize": _FASTWORDPIECE_FIX,
    "FastBertNormalize": (
        "normalize with tf_text.BertTokenizer (CaseFoldUTF8 + NormalizeUTF8) "
        "instead of FastBertNormalizer"
    ),
    "TFText>RoundRobinTrim": _ROUND_ROBIN_FIX,
    "TFText>RoundRobinGenerateMasks": _ROUND_ROBIN_FIX,
    "TFText>FastSentencepieceTokenize": _FAST_SENTENCEPIECE_FIX,
    "TFText>FastSentencepieceDetokenize": _FAST_SENTENCEPIECE_FIX,
    "PyFunc": _PYTHON_FIX,
    "PyFuncStateless": _PYTHON_FIX,
    "EagerPyFunc": _PYTHON_FIX,
}
_TF_TEXT_FIX = (
    "this tensorflow-text op is not exercised by TF Serving's tensorflow-text "
    "regression test, so the model server may not have it; build the "
    "preprocessing from covered ops (tf_text.BertTokenizer, WaterfallTrimmer, "
    "combine_segments, pad_model_inputs)"
)
_UNKNOWN_FIX = (
    "neither TF core nor tensorflow-text registers this op; the model server "
    "will fail with 'Op type not registered'. Remove the custom op from the "
    "serving graph"
)

WARMUP_RELPATH = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000
TEXT_INPUT = "text"
PREDICT_METHOD = "tensorflow/serving/predict"
# Three texts of different lengths: a batch size no layer is likely to fix.
PROBE_TEXTS = [
    "hello world",
    "The quick brown fox jumps over the lazy dog near Paris.",
    "A third, somewhat longer example sentence, so that padding differs.",
]

_TOP_LEVEL = "(top-level graph)"
_HEX = set("0123456789abcdef")


def registered_op_names() -> frozenset:
    """Return the names of all ops registered in this process."""
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session as c_api

    buf = c_api.TF_GetAllOpList()
    try:
        op_list = op_def_pb2.OpList.FromString(c_api.TF_GetBuffer(buf))
    finally:
        c_api.TF_DeleteBuffer(buf)
    return frozenset(op.name for op in op_list.op)


def core_and_text_ops() -> tuple[frozenset, frozenset]:
    """Return `(core_ops, tf_text_ops)` registered by TF core and tensorflow-text.

    Must run before anything imports tensorflow_text, since the core set is
    read from the process registry first.
    """
    if "tensorflow_text" in sys.modules:
        raise RuntimeError(
            "tensorflow_text was imported before the TF core op list was "
            "read; run serving_check.py as a script in a fresh process."
        )
    import tensorflow  # noqa: F401  (registers the core ops)

    core = registered_op_names()
    import tensorflow_text  # noqa: F401  (registers its ops for loading)

    return core, registered_op_names() - core


def read_meta_graph(saved_model_dir: str):
    """Return the `serve` MetaGraphDef of a SavedModel directory."""
    from tensorflow.core.protobuf import saved_model_pb2

    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(
        "The SavedModel has no MetaGraph tagged 'serve' (tags found: "
        f"{[list(m.meta_info_def.tags) for m in saved_model.meta_graphs]}); "
        "TF Serving loads the 'serve' tag. Export with tf.saved_model.save or "
        "keras.export.ExportArchive."
    )


def op_locations(meta_graph) -> dict[str, list[str]]:
    """Map each op type in the graph to the functions it appears in."""
    graph = meta_graph.graph_def
    function_names = {f.signature.name for f in graph.library.function}
    where = {}
    for node in graph.node:
        where.setdefault(node.op, set()).add(_TOP_LEVEL)
    for function in graph.library.function:
        for node in function.node_def:
            where.setdefault(node.op, set()).add(function.signature.name)
    # A node whose op is a library function is a call, not an op type.
    return {op: sorted(fns) for op, fns in where.items() if op not in function_names}


def disallowed_ops(
    locations: dict[str, list[str]], core_ops: frozenset, tf_text_ops: frozenset
) -> dict[str, list[str]]:
    """The ops outside the allow-list (TF core minus Python ops, plus the
    covered tensorflow-text ops), each with the functions it appears in."""
    allowed = (core_ops - PYTHON_OPS) | (TF_TEXT_SERVING_OPS & tf_text_ops)
    return {op: fns for op, fns in sorted(locations.items()) if op not in allowed}


def check_ops(
    locations: dict[str, list[str]], core_ops: frozenset, tf_text_ops: frozenset
) -> list[str]:
    """Return one failure message per op outside the allow-list."""
    failures = []
    for op, fns in disallowed_ops(locations, core_ops, tf_text_ops).items():
        if op in FIX_HINTS:
            fix = FIX_HINTS[op]
        elif op in tf_text_ops:
            fix = _TF_TEXT_FIX
        else:
            fix = _UNKNOWN_FIX
        shown = ", ".join(f"`{f}`" for f in fns[:5])
        if len(fns) > 5:
            shown += f" and {len(fns) - 5} more"
        failures.append(
            f"op `{op}` is not in the TF Serving allow-list; it appears in "
            f"{shown}. Fix: {fix}."
        )
    return failures


def _tensor_infos(tensors) -> dict[str, dict]:
    """`{key: {"dtype", "shape"}}` of SignatureDef tensors (shape None: any rank)."""
    from tensorflow.core.framework import types_pb2

    infos = {}
    for key, info in sorted(tensors.items()):
        shape = info.tensor_shape
        dims = None if shape.unknown_rank else [d.size for d in shape.dim]
        infos[key] = {"dtype": types_pb2.DataType.Name(info.dtype), "shape": dims}
    return infos


def describe_signatures(meta_graph) -> dict[str, dict]:
    """Return `{name: {"method", "inputs", "outputs"}}` from the SignatureDefs."""
    signatures = {}
    for name, sig in sorted(meta_graph.signature_def.items()):
        if name.startswith("__"):  # __saved_model_init_op
            continue
        signatures[name] = {
            "method": sig.method_name,
            "inputs": _tensor_infos(sig.inputs),
            "outputs": _tensor_infos(sig.outputs),
        }
    return signatures


def check_signature_defs(signatures: dict[str, dict]) -> list[str]:
    """Return failures visible in the SignatureDefs alone."""
    failures = []
    if not signatures:
        failures.append(
            "the SavedModel has no signatures; TF Serving needs at least "
            "`serving_default`. Export with ExportArchive.add_endpoint."
        )
    for name, sig in signatures.items():
        if sig["method"] != PREDICT_METHOD:
            failures.append(
                f"signature `{name}` has method_name {sig['method']!r}; the "
                f"REST predict API needs {PREDICT_METHOD!r}. Export it with "
                "tf.saved_model.save or keras.export.ExportArchive."
            )
        text = sig["inputs"].get(TEXT_INPUT)
        if (
            list(sig["inputs"]) != [TEXT_INPUT]
            or text["dtype"] != "DT_STRING"
            or text["shape"] not in ([-1], None)
        ):
            failures.append(
                f"signature `{name}` takes {sig['inputs']}; expected a single "
                f"input `{TEXT_INPUT}` of DT_STRING with shape [-1]. Use "
                "input_signature=[tf.TensorSpec([None], tf.string, "
                f'name="{TEXT_INPUT}")].'
            )
        for key, out in sig["outputs"].items():
            if out["dtype"] == "DT_INVALID":
                failures.append(
                    f"output `{key}` of signature `{name}` is DT_INVALID (a "
                    "ragged or composite tensor), which TF Serving cannot "
                    "serve. Pad it to a dense tensor and add a mask or a "
                    "length output."
                )
            elif out["shape"] is not None and (
                not out["shape"] or out["shape"][0] not in (-1, None)
            ):
                failures.append(
                    f"output `{key}` of signature `{name}` has static shape "
                    f"{out['shape']}; its first dimension must be the batch "
                    "dimension (-1). REST 'instances' requests split every "
                    "output along it."
                )
    return failures


def _short(error: BaseException) -> str:
    """One line of at most 300 characters from an exception."""
    text = " ".join(str(error).replace("Graph execution error:", "").split())
    return f"{type(error).__name__}: {text[:300]}"


def _call(fn, inputs):
    import tensorflow as tf

    return fn(**{k: tf.constant(v) for k, v in inputs.items()})


def check_outputs(
    name: str, outputs: dict, batch_size: int, context: str
) -> list[str]:
    """Return failures for outputs that lost the batch dimension."""
    failures = []
    for key, value in sorted(outputs.items()):
        shape = list(value.shape)
        if not shape or shape[0] != batch_size:
            failures.append(
                f"output `{key}` of signature `{name}` has shape {shape} for "
                f"{context} of {batch_size} texts; every output must keep the "
                "input's batch dimension first (REST 'instances' requests "
                "need it). Return one row per input text, e.g. broadcast or "
                "tile per-model constants."
            )
    return failures


def read_warmup(path: str) -> list[tuple[str, dict]]:
    """Return `[(signature_name, {input: ndarray})]` from a warmup file."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    records = []
    for i, raw in enumerate(tf.data.TFRecordDataset(path)):
        log = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(
                f"warmup record {i} is a {log.WhichOneof('log_type')!r}, not a "
                "predict_log; rewrite the file with predict requests."
            )
        request = log.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        records.append((request.model_spec.signature_name or "serving_default", inputs))
    return records


def check(saved_model_dir: str) -> dict:
    """Run every check; return the JSON-able summary (`ok`, `failures`, ...)."""
    core_ops, tf_text_ops = core_and_text_ops()
    import tensorflow as tf

    summary = {
        "saved_model_dir": os.path.abspath(saved_model_dir),
        "ok": False,
        "failures": [],
        "ops": [],
        "tf_text_ops": [],
        "disallowed_ops": {},
        "signatures": {},
        "probe_batch_size": len(PROBE_TEXTS),
        "warmup_records": 0,
        "warmup_replayed": 0,
    }
    failures = summary["failures"]
    if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
        failures.append(
            f"{saved_model_dir!r} is not a SavedModel directory (no "
            "saved_model.pb). Pass a version directory such as "
            "saved_models/NAME/1."
        )
        return summary
    try:
        meta_graph = read_meta_graph(saved_model_dir)
    except ValueError as e:
        failures.append(str(e))
        return summary

    locations = op_locations(meta_graph)
    summary["ops"] = sorted(locations)
    summary["tf_text_ops"] = sorted(set(locations) & tf_text_ops)
    failures.extend(check_ops(locations, core_ops, tf_text_ops))
    summary["disallowed_ops"] = disallowed_ops(locations, core_ops, tf_text_ops)

    signatures = describe_signatures(meta_graph)
    summary["signatures"] = signatures
    failures.extend(check_signature_defs(signatures))

    try:
        loaded = tf.saved_model.load(saved_model_dir, tags=["serve"])
    except Exception as e:  # any load error is a finding, not a crash
        failures.append(f"tf.saved_model.load failed: {_short(e)}")
        return summary

    for name, sig in signatures.items():
        if list(sig["inputs"]) != [TEXT_INPUT] or name not in loaded.signatures:
            continue
        try:
            outputs = _call(loaded.signatures[name], {TEXT_INPUT: PROBE_TEXTS})
        except Exception as e:
            failures.append(
                f"signature `{name}` failed on a probe batch of "
                f"{len(PROBE_TEXTS)} texts: {_short(e)}"
            )
            continue
        failures.extend(check_outputs(name, outputs, len(PROBE_TEXTS), "a probe batch"))

    warmup_path = os.path.join(saved_model_dir, WARMUP_RELPATH)
    if os.path.isfile(warmup_path):
        try:
            records = read_warmup(warmup_path)
        except Exception as e:
            failures.append(f"cannot read {WARMUP_RELPATH}: {_short(e)}")
            records = []
        summary["warmup_records"] = len(records)
        if len(records) > MAX_WARMUP_RECORDS:
            failures.append(
                f"{WARMUP_RELPATH} has {len(records)} records; TF Serving "
                f"accepts at most {MAX_WARMUP_RECORDS}. Write fewer."
            )
        for i, (name, inputs) in enumerate(records):
            if name not in loaded.signatures:
                failures.append(
                    f"warmup record {i} asks for signature `{name}`, which the "
                    f"SavedModel lacks (it has {sorted(loaded.signatures)})."
                )
                continue
            try:
                outputs = _call(loaded.signatures[name], inputs)
            except Exception as e:
                failures.append(
                    f"warmup record {i} (signature `{name}`) failed: "
                    f"{_short(e)}"
                )
                continue
            batch = next(iter(inputs.values())).shape[0] if inputs else 0
            failures.extend(check_outputs(name, outputs, batch, f"warmup record {i}"))
            summary["warmup_replayed"] += 1

    summary["ok"] = not failures
    return summary


def format_report(summary: dict) -> str:
    """Render a summary as readable text."""
    lines = [f"serving_check: {summary['saved_model_dir']}"]
    if summary["ops"]:
        tf_text = summary["tf_text_ops"]
        lines.append(
            f"  ops: {len(summary['ops'])} types"
            + (f", tensorflow-text: {', '.join(tf_text)}" if tf_text else "")
        )
    for name, sig in summary["signatures"].items():
        ins, outs = (
            ", ".join(f"{k} {v['dtype']} {v['shape']}" for k, v in sig[side].items())
            for side in ("inputs", "outputs")
        )
        lines.append(f"  signature {name}: ({ins}) -> ({outs})")
    if summary["warmup_records"]:
        lines.append(
            f"  warmup: {summary['warmup_replayed']} of "
            f"{summary['warmup_records']} records replayed"
        )
    if summary["ok"]:
        lines.append("OK: ready for TF Serving.")
    else:
        lines.append(f"FAILED ({len(summary['failures'])} problems):")
        lines.extend(f"  - {f}" for f in summary["failures"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check that a SavedModel will load and answer in TF Serving."
    )
    parser.add_argument("saved_model_dir", help="a SavedModel version directory")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary as the last line of stdout",
    )
    args = parser.parse_args(argv)
    summary = check(args.saved_model_dir)
    print(format_report(summary))
    if args.json:
        top_level = {m.partition(".")[0] for m in list(sys.modules)}
        # Drop the 40-hex-digit names of modules TensorFlow generates.
        summary["modules"] = sorted(
            m for m in top_level if not (len(m) == 40 and set(m) <= _HEX)
        )
        print(json.dumps(summary, sort_keys=True))
    sys.stdout.flush()
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
