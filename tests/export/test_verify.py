"""Tests for the TF Serving checks (`serving_check.py` run by `verify_saved_model`)."""

import shutil
import sys

import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from kerasft.export import warmup
from kerasft.export.verify import ExportVerificationError
from kerasft.export.verify import verify_saved_model

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "the", "##s"]
TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")


class TinyTextModel(tf.Module):
    """Text in, padded token ids out, built from covered tf.text ops."""

    def __init__(self, variant="ok"):
        super().__init__()
        init = tf.lookup.KeyValueTensorInitializer(
            VOCAB, tf.range(len(VOCAB), dtype=tf.int64)
        )
        self.table = tf.lookup.StaticVocabularyTable(init, num_oov_buckets=1)
        self.tokenizer = tf_text.BertTokenizer(
            self.table, lower_case=True, token_out_type=tf.int64
        )
        self.variant = variant

    @tf.function(input_signature=[TEXT_SPEC])
    def serve(self, text):
        ids = self.tokenizer.tokenize(text).merge_dims(-2, -1)
        padded, mask = tf_text.pad_model_inputs(ids, max_seq_length=8)
        outputs = {"token_ids": padded, "padding_mask": mask}
        if self.variant == "py_function":
            outputs["length"] = tf.py_function(
                lambda t: tf.strings.length(t), [text], tf.int32
            )
        elif self.variant == "bad_shapes":
            outputs["total"] = tf.reduce_sum(padded)  # no batch dimension
            outputs["words"] = tf.strings.split(text)  # ragged
        return outputs

    @tf.function(input_signature=[TEXT_SPEC])
    def lengths(self, text):
        return {"num_chars": tf.strings.length(text)}


class KerasHubStyleModel(tf.Module):
    """Preprocessing as keras-hub's BERT preprocessor builds it."""

    def __init__(self):
        super().__init__()
        self.tokenizer = tf_text.FastWordpieceTokenizer(
            VOCAB, token_out_type=tf.int64, unknown_token="[UNK]"
        )

    @tf.function(input_signature=[TEXT_SPEC])
    def serve(self, text):
        ids = self.tokenizer.tokenize(tf.strings.split(text)).merge_dims(-2, -1)
        (trimmed,) = tf_text.RoundRobinTrimmer(4).trim([ids])
        return {"token_ids": trimmed.to_tensor(shape=[None, 4])}


def save(module, directory, **extra_signatures):
    tf.saved_model.save(
        module,
        str(directory),
        signatures={"serving_default": module.serve, **extra_signatures},
    )
    return directory


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    good = TinyTextModel()
    paths = {
        "ok": save(good, root / "ok", lengths=good.lengths),
        "keras_hub_style": save(KerasHubStyleModel(), root / "keras_hub_style"),
    }
    for variant in ["py_function", "bad_shapes"]:
        paths[variant] = save(TinyTextModel(variant), root / variant)
    warmup.write_warmup_requests(
        paths["ok"],
        {
            "serving_default": [["hello world"], ["the worlds", "hello", "x"]],
            "lengths": [["hello"]],
        },
    )
    paths["bad_warmup"] = root / "bad_warmup"
    shutil.copytree(paths["ok"], paths["bad_warmup"])
    warmup.write_warmup_requests(
        paths["bad_warmup"], {"serving_default": [["hello"]], "classify": [["x"]]}
    )
    return paths


@pytest.fixture(scope="module")
def ok_summary(exports):
    return verify_saved_model(exports["ok"])


def verification_error(path) -> ExportVerificationError:
    """The error `verify_saved_model(path)` must raise."""
    with pytest.raises(ExportVerificationError) as info:
        verify_saved_model(path)
    return info.value


@pytest.mark.large
def test_covered_tf_text_model_passes_and_replays_warmup(ok_summary):
    summary = ok_summary
    assert summary["ok"] is True
    assert summary["failures"] == []
    assert summary["warmup_records"] == 3
    assert summary["warmup_replayed"] == 3
    assert {
        "CaseFoldUTF8",
        "NormalizeUTF8",
        "RegexSplitWithOffsets",
        "WordpieceTokenizeWithOffsets",
    } <= set(summary["tf_text_ops"])
    assert summary["disallowed_ops"] == {}
    assert set(summary["signatures"]) == {"serving_default", "lengths"}
    text_input = summary["signatures"]["serving_default"]["inputs"]["text"]
    assert text_input == {"dtype": "DT_STRING", "shape": [-1]}


@pytest.mark.large
def test_checker_process_does_not_import_kerasft_or_keras_hub(ok_summary):
    assert "kerasft" in sys.modules  # this process has it; the child must not
    modules = set(ok_summary["modules"])
    assert {"tensorflow", "tensorflow_text", "tensorflow_serving"} <= modules
    assert "kerasft" not in modules
    assert "keras_hub" not in modules


@pytest.mark.large
def test_py_function_fails_naming_eager_py_func(exports):
    error = verification_error(exports["py_function"])
    assert "op `EagerPyFunc`" in str(error)
    assert "__inference_serve_" in str(error)  # the function it appears in
    assert "tf.py_function" in str(error)  # how to fix it
    assert isinstance(error, ValueError)
    assert list(error.summary["disallowed_ops"]) == ["EagerPyFunc"]


@pytest.mark.large
def test_fast_wordpiece_and_round_robin_fail_with_fixes(exports):
    message = str(verification_error(exports["keras_hub_style"]))
    assert "op `FastWordpieceTokenizeWithOffsets`" in message
    assert "tf_text.BertTokenizer" in message
    assert "op `TFText>RoundRobinTrim`" in message
    assert "WaterfallTrimmer" in message
    assert "2 problems" in message


@pytest.mark.large
def test_scalar_and_ragged_outputs_fail(exports):
    failures = verification_error(exports["bad_shapes"]).summary["failures"]
    total = [f for f in failures if "output `total`" in f]
    words = [f for f in failures if "output `words`" in f]
    assert total and all("batch dimension" in f for f in total)
    assert len(words) == 1 and "DT_INVALID" in words[0]
    assert len(total) + len(words) == len(failures)


@pytest.mark.large
def test_warmup_for_a_missing_signature_fails(exports):
    summary = verification_error(exports["bad_warmup"]).summary
    (failure,) = summary["failures"]
    assert "signature `classify`" in failure
    assert summary["warmup_replayed"] == 1


def test_requires_a_saved_model_directory(tmp_path):
    with pytest.raises(ValueError, match="`path` must be a SavedModel directory"):
        verify_saved_model(tmp_path)


def test_allow_list_names_ops_that_tensorflow_text_registers():
    from kerasft.export import serving_check

    registered = serving_check.registered_op_names()  # tf_text is imported here
    assert serving_check.TF_TEXT_SERVING_OPS <= registered
    denied = {
        "FastWordpieceTokenizeWithOffsets",
        "FastBertNormalize",
        "TFText>RoundRobinTrim",
    }
    assert denied <= registered
    assert not denied & serving_check.TF_TEXT_SERVING_OPS
    assert {"PyFunc", "PyFuncStateless", "EagerPyFunc"} == serving_check.PYTHON_OPS
    assert set(serving_check.FIX_HINTS) <= registered


def test_check_ops_explains_each_kind_of_offending_op():
    from kerasft.export import serving_check

    locations = {
        "MatMul": [serving_check._TOP_LEVEL],
        "WordpieceTokenizeWithOffsets": ["__inference_a_1"],
        "NormalizeUTF8WithOffsetsMap": ["__inference_b_2"],
        "MyCustomOp": [f"__inference_f_{i}" for i in range(7)],
        "PyFuncStateless": ["__inference_c_3"],
    }
    failures = serving_check.check_ops(
        locations,
        core_ops=frozenset({"MatMul", "PyFuncStateless"}),
        tf_text_ops=frozenset(
            {"WordpieceTokenizeWithOffsets", "NormalizeUTF8WithOffsetsMap"}
        ),
    )
    assert len(failures) == 3
    by_op = {f.split("`")[1]: f for f in failures}
    assert "Op type not registered" in by_op["MyCustomOp"]
    assert "and 2 more" in by_op["MyCustomOp"]
    assert "not exercised" in by_op["NormalizeUTF8WithOffsetsMap"]
    assert "`__inference_b_2`" in by_op["NormalizeUTF8WithOffsetsMap"]
    assert "tf.py_function" in by_op["PyFuncStateless"]
