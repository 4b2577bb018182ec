"""Tests for `kerasft.serving_client`.

The REST tests run against a stand-in for TF Serving on 127.0.0.1 that answers
as its REST API documents (https://www.tensorflow.org/tfx/serving/api_rest):
- `GET /v1/models/NAME[/versions/N|/labels/L]` -> `{"model_version_status": [...]}`
  and `.../metadata` -> `{"model_spec": ..., "metadata": {"signature_def": ...}}`;
- `POST /v1/models/NAME[/versions/N|/labels/L]:predict`, row format
  `{"signature_name": ..., "instances": [...]}` -> `{"predictions": [...]}` (one
  object per instance keyed by output name, or bare values for a single
  output), column format `{"inputs": ...}` -> `{"outputs": ...}`, never both;
- outputs whose name ends in `_bytes` come back as `{"b64": ...}`;
- errors as `{"error": "..."}` with 404 (unknown model, version or label) or
  400 (bad request, unknown signature).
"""

import base64
import http.server
import json
import re
import socket
import threading
import time

import pytest

from kerasft import serving_client
from kerasft.serving_client import ServingError
from kerasft.serving_client import format_prediction
from kerasft.serving_client import model_status
from kerasft.serving_client import predict

LABELS = ["negative", "positive"]
# Version -> P(positive), so the tests can tell which version answered.
VERSIONS = {1: 0.25, 2: 0.75}
VERSION_LABELS = {"stable": 1, "canary": 2}
URL_RE = re.compile(
    r"^/v1/models/(?P<model>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<suffix>:predict|/metadata)?$"
)


def run_signature(name, version, texts):
    """The stand-in model: returns None for an unknown signature."""
    if name == "serving_default":
        p = VERSIONS[version]
        return [
            {
                "label": "positive" if p > 0.5 else "negative",
                "labels": LABELS,
                "probabilities": [1 - p, p],
                "text_bytes": {"b64": base64.b64encode(t.encode()).decode()},
            }
            for t in texts
        ]
    if name == "lengths":  # a single output: TF Serving drops its name
        return [len(t) for t in texts]
    return None


SIGNATURE_DEFS = {
    "serving_default": {
        "inputs": {"text": {"dtype": "DT_STRING", "name": "serving_default_text:0"}},
        "outputs": {
            k: {"dtype": "DT_FLOAT", "name": f"StatefulPartitionedCall:{i}"}
            for i, k in enumerate(["label", "labels", "probabilities", "text_bytes"])
        },
        "method_name": "tensorflow/serving/predict",
    },
    "lengths": {
        "inputs": {"text": {"dtype": "DT_STRING", "name": "lengths_text:0"}},
        "outputs": {"num_chars": {"dtype": "DT_INT32", "name": "Identity:0"}},
        "method_name": "tensorflow/serving/predict",
    },
}


class FakeTFServing(http.server.BaseHTTPRequestHandler):
    """Serves one model, `sentiment`, versions 1 and 2, labels stable/canary."""

    requests = []  # (method, path, body) of every request, for assertions

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message):
        self.reply(status, {"error": message})

    def resolve(self):
        """Return (match, version) or None after replying with an error."""
        match = URL_RE.match(self.path)
        if not match:
            self.error(404, f"Malformed request: {self.command} {self.path}")
            return None
        if match["model"] == "slow":
            time.sleep(1.0)
        if match["model"] != "sentiment":
            self.error(404, f"Servable not found for request: Latest({match['model']})")
            return None
        if match["version"]:
            version = int(match["version"])
            if version not in VERSIONS:
                self.error(
                    404, f"Servable not found for request: Specific(sentiment, {version})"
                )
                return None
        elif match["label"]:
            if match["label"] not in VERSION_LABELS:
                self.error(404, f"Unrecognized servable version label: {match['label']}")
                return None
            version = VERSION_LABELS[match["label"]]
        else:
            version = max(VERSIONS)
        return match, version

    def do_GET(self):
        self.requests.append(("GET", self.path, None))
        resolved = self.resolve()
        if resolved is None:
            return
        match, version = resolved
        if match["suffix"] == ":predict":
            self.error(400, "predict requires POST")
        elif match["suffix"] == "/metadata":
            self.reply(200, {
                "model_spec": {"name": "sentiment", "version": str(version)},
                "metadata": {"signature_def": {
                    "signature_def": SIGNATURE_DEFS,
                    "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
                }},
            })
        else:
            versions = [version] if (match["version"] or match["label"]) else sorted(VERSIONS)
            self.reply(200, {"model_version_status": [
                {"version": str(v), "state": "AVAILABLE",
                 "status": {"error_code": "OK", "error_message": ""}}
                for v in versions
            ]})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            self.requests.append(("POST", self.path, raw))
            self.error(400, "JSON Parse error: Invalid value. at offset: 0")
            return
        self.requests.append(("POST", self.path, body))
        resolved = self.resolve()
        if resolved is None:
            return
        match, version = resolved
        if match["suffix"] != ":predict":
            self.error(404, f"Malformed request: POST {self.path}")
            return
        if ("instances" in body) == ("inputs" in body):
            self.error(400, "Missing 'inputs' or 'instances' key")
            return
        name = body.get("signature_name", "serving_default")
        texts = body["instances"] if "instances" in body else body["inputs"]
        if isinstance(texts, dict):
            texts = texts["text"]
        rows = run_signature(name, version, texts)
        if rows is None:
            self.error(
                400, f'Serving signature name: "{name}" not found in signature def'
            )
        elif "instances" in body:
            self.reply(200, {"predictions": rows})
        elif rows and isinstance(rows[0], dict):
            self.reply(200, {"outputs": {k: [r[k] for r in rows] for k in rows[0]}})
        else:
            self.reply(200, {"outputs": rows})


@pytest.fixture
def server():
    FakeTFServing.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeTFServing)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_predict_sends_the_row_format_and_parses_predictions(server):
    preds = predict(["a great film", "bof"], server=server, model="sentiment")
    assert FakeTFServing.requests == [(
        "POST",
        "/v1/models/sentiment:predict",
        {"signature_name": "serving_default", "instances": ["a great film", "bof"]},
    )]
    assert [p["label"] for p in preds] == ["positive", "positive"]
    assert preds[0]["probabilities"] == [0.25, 0.75]
    assert preds[0]["labels"] == LABELS
    # {"b64": ...} values come back as bytes.
    assert [p["text_bytes"] for p in preds] == [b"a great film", b"bof"]


def test_a_single_string_is_a_batch_of_one(server):
    (pred,) = predict("hello", server=server, model="sentiment")
    assert pred["text_bytes"] == b"hello"


def test_server_without_scheme(server):
    address = server.removeprefix("http://")
    assert len(predict(["x"], server=address, model="sentiment")) == 1


@pytest.mark.parametrize(
    "kwargs, path, p_positive",
    [
        ({"version": 1}, "/v1/models/sentiment/versions/1:predict", 0.25),
        ({"version": 2}, "/v1/models/sentiment/versions/2:predict", 0.75),
        ({"label": "stable"}, "/v1/models/sentiment/labels/stable:predict", 0.25),
        ({"label": "canary"}, "/v1/models/sentiment/labels/canary:predict", 0.75),
    ],
)
def test_version_and_label_urls(server, kwargs, path, p_positive):
    (pred,) = predict(["x"], server=server, model="sentiment", **kwargs)
    assert FakeTFServing.requests[-1][1] == path
    assert pred["probabilities"][1] == p_positive


def test_single_output_signature_is_named_from_metadata(server):
    preds = predict(
        ["four", "hello"], server=server, model="sentiment", version=1,
        signature="lengths",
    )
    assert preds == [{"num_chars": 4}, {"num_chars": 5}]
    assert FakeTFServing.requests[0][2]["signature_name"] == "lengths"
    assert FakeTFServing.requests[1][:2] == (
        "GET", "/v1/models/sentiment/versions/1/metadata"
    )


@pytest.mark.parametrize(
    "kwargs, status, message",
    [
        ({"model": "nope"}, 404, "Servable not found for request: Latest(nope)"),
        ({"model": "sentiment", "version": 9}, 404, "Specific(sentiment, 9)"),
        ({"model": "sentiment", "label": "old"}, 404, "version label: old"),
        (
            {"model": "sentiment", "signature": "classify"},
            400,
            'Serving signature name: "classify" not found',
        ),
    ],
)
def test_http_errors_carry_status_and_message(server, kwargs, status, message):
    with pytest.raises(ServingError) as info:
        predict(["x"], server=server, **kwargs)
    error = info.value
    assert error.status == status
    assert message in error.message
    assert error.url.startswith(server) and error.url.endswith(":predict")
    assert f"HTTP {status}" in str(error) and message in str(error)


def test_connection_refused_names_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on `port` any more.
    with pytest.raises(ServingError) as info:
        predict(["x"], server=f"http://127.0.0.1:{port}", model="sentiment")
    assert info.value.status is None
    assert f"http://127.0.0.1:{port}/v1/models/sentiment:predict" in str(info.value)
    assert "cannot reach TF Serving" in str(info.value)


def test_timeout_is_a_serving_error(server):
    with pytest.raises(ServingError, match="no answer within 0.2 s"):
        predict(["x"], server=server, model="slow", timeout=0.2)


def test_model_status(server):
    status = model_status(server, "sentiment")
    assert [s["version"] for s in status] == ["1", "2"]
    assert all(s["state"] == "AVAILABLE" for s in status)
    assert model_status(server, "sentiment", label="stable")[0]["version"] == "1"
    assert FakeTFServing.requests[-1] == ("GET", "/v1/models/sentiment/labels/stable", None)
    with pytest.raises(ServingError) as info:
        model_status(server, "nope")
    assert info.value.status == 404


def test_stand_in_follows_the_documented_column_format(server):
    # Guards the stand-in itself against drifting from the documented API.
    import urllib.request

    request = urllib.request.Request(
        f"{server}/v1/models/sentiment/versions/1:predict",
        data=json.dumps({"inputs": {"text": ["a", "b"]}}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        outputs = json.loads(response.read())["outputs"]
    assert outputs["probabilities"] == [[0.75, 0.25], [0.75, 0.25]]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({}, ValueError, "exactly one of `saved_model`"),
        ({"saved_model": "x", "server": "y"}, ValueError, "exactly one of"),
        ({"server": "http://h:8501"}, ValueError, "`model`"),
        ({"server": "h", "model": "m", "version": 1, "label": "a"}, ValueError,
         "at most one of `version` and `label`"),
        ({"server": "h", "model": "m", "version": 0}, ValueError,
         "`version` must be a positive integer"),
        ({"saved_model": "x", "model": "m"}, ValueError, "only apply with `server`"),
    ],
)
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        predict(["x"], **kwargs)


def test_texts_must_be_strings():
    with pytest.raises(TypeError, match="`texts` must be a string or a list"):
        predict([1, 2], server="h", model="m")
    with pytest.raises(TypeError, match="`texts`"):
        predict(b"bytes", server="h", model="m")


def test_missing_saved_model_dir(tmp_path):
    with pytest.raises(ValueError, match="`saved_model` must be a SavedModel"):
        predict(["x"], saved_model=tmp_path)


@pytest.mark.large
def test_predict_on_a_local_saved_model(tmp_path):
    import tensorflow as tf
    import tensorflow_text as tf_text

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            words = tf_text.WhitespaceTokenizer().tokenize(text)
            n = tf.cast(words.row_lengths(), tf.float32)
            p = n / (n + 1.0)
            return {
                "label": tf.where(p > 0.6, "positive", "negative"),
                "probabilities": tf.stack([1.0 - p, p], axis=1),
                "labels": tf.tile(tf.constant([LABELS]), [tf.size(text), 1]),
                "text_bytes": text,
            }

    module = Tiny()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    preds = predict(["one", "two words here"], saved_model=tmp_path)
    assert [p["label"] for p in preds] == ["negative", "positive"]
    assert preds[0]["labels"] == LABELS
    assert preds[1]["probabilities"] == pytest.approx([0.25, 0.75])
    assert preds[1]["text_bytes"] == b"two words here"
    with pytest.raises(ValueError, match="`signature` must name one of"):
        predict(["x"], saved_model=tmp_path, signature="ner")
    assert serving_client.predict([], saved_model=tmp_path) == []


NER_PRED = {
    "words": ["Barack", "Obama", "visited", "Paris", ".", "", ""],
    "tags": ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"],
    "num_words": 5,
    "entity_text": ["Barack Obama", "Paris", "", ""],
    "entity_type": ["PER", "LOC", "", ""],
    "entity_start": [0, 3, 0, 0],
    "entity_end": [2, 4, 0, 0],
    "entity_score": [0.981, 0.947, 0.0, 0.0],
    "num_entities": 2,
}


def test_format_ner_prediction_highlights_entities():
    assert format_prediction(NER_PRED) == (
        "[Barack Obama](PER 0.98) visited [Paris](LOC 0.95) ."
    )


def test_format_ner_from_tags_only():
    pred = {k: NER_PRED[k] for k in ["words", "tags", "num_words"]}
    pred["tags"] = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "O", "O"]
    assert format_prediction(pred) == "[Barack Obama](PER) visited [Paris](LOC) [.](LOC)"


def test_format_ner_from_tags_reads_any_tag_leniently():
    # B-/S-/U- begin an entity; any other prefix (E-, L-, none) continues a
    # same-type one; "" is outside, like "O".
    pred = {
        "words": ["a", "b", "c", "d", "e", "f", "g"],
        "tags": ["U-PER", "E-PER", "L-PER", "LOC", "", "S-ORG", "I-ORG"],
    }
    assert format_prediction(pred) == "[a b c](PER) [d](LOC) e [f g](ORG)"


def test_format_ner_without_entities():
    pred = {"words": ["nothing", "here"], "tags": ["O", "O"]}
    assert format_prediction(pred) == "nothing here\n(no entities)"


def test_format_classification():
    pred = {
        "label": "neutral",
        "labels": ["negative", "neutral", "positive"],
        "probabilities": [0.1, 0.7, 0.2],
    }
    assert format_prediction(pred) == "neutral (0.70)  | positive 0.20, negative 0.10"


def test_format_classification_without_class_names():
    pred = {"label": "negative", "score": 0.61, "probabilities": [0.61, 0.39]}
    assert format_prediction(pred) == "negative (0.61)  | probabilities 0.61, 0.39"


def test_format_other_outputs_prints_keys():
    assert format_prediction({"b": [1, 2], "a": 0.5}) == "a: 0.5\nb: [1, 2]"
    with pytest.raises(TypeError, match="`pred` must be a dict"):
        format_prediction(["not", "a", "dict"])
