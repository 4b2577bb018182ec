"""Call an exported model: a local SavedModel, or TF Serving over REST.

The REST side follows https://www.tensorflow.org/tfx/serving/api_rest: row
format requests `{"signature_name": ..., "instances": [...]}` answered with
`{"predictions": [...]}`, errors as `{"error": "..."}` with an HTTP status.
"""

from __future__ import annotations

import base64
import json
import math
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from kerasft.data import tag_schemes

DEFAULT_SIGNATURE = "serving_default"


class ServingError(RuntimeError):
    """TF Serving answered with an error, or could not be reached.

    Attributes:
        status: the HTTP status (e.g. 404 for an unknown model or version),
            or `None` if the server could not be reached.
        message: TF Serving's `error` message, or the connection problem.
        url: the URL that was requested.
    """

    def __init__(self, message: str, *, status: int | None, url: str):
        where = f"HTTP {status} from {url}" if status else url
        super().__init__(f"{where}: {message}")
        self.status = status
        self.message = message
        self.url = url


def _check_texts(texts: object) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if (
        isinstance(texts, (bytes, dict))
        or not isinstance(texts, Sequence)
        or not all(isinstance(t, str) for t in texts)
    ):
        raise TypeError(
            "`texts` must be a string or a list of strings. Received: "
            f"texts={texts!r:.200}. Pass e.g. texts=['a great film']."
        )
    return list(texts)


def _to_python(value: object, *, keep_bytes: bool) -> object:
    if isinstance(value, bytes):
        return value if keep_bytes else value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_to_python(v, keep_bytes=keep_bytes) for v in value]
    return value


def _decode_b64(value: object) -> object:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, dict):
        return {k: _decode_b64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


# Loaded SavedModels, keyed by path and the mtime of saved_model.pb.
_LOADED: dict[tuple[str, float], object] = {}


def _load(saved_model: str | os.PathLike):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    path = Path(saved_model).resolve()
    pb = path / "saved_model.pb"
    if not pb.is_file():
        raise ValueError(
            "`saved_model` must be a SavedModel directory containing "
            f"saved_model.pb. Received: saved_model={str(saved_model)!r}. Pass "
            "a version directory such as saved_models/NAME/1."
        )
    key = (str(path), pb.stat().st_mtime)
    if key not in _LOADED:
        _LOADED[key] = tf.saved_model.load(str(path), tags=["serve"])
    return _LOADED[key]


def _predict_local(texts, saved_model, signature):
    import tensorflow as tf

    loaded = _load(saved_model)
    if signature not in loaded.signatures:
        raise ValueError(
            f"`signature` must name one of the model's signatures "
            f"{sorted(loaded.signatures)}. Received: signature={signature!r}."
        )
    fn = loaded.signatures[signature]
    input_names = list(fn.structured_input_signature[1])
    if len(input_names) != 1:
        raise ValueError(
            f"Signature {signature!r} takes inputs {input_names}; expected a "
            "single text input. Pass another `signature`."
        )
    outputs = fn(**{input_names[0]: tf.constant(texts, dtype=tf.string)})
    columns = {}
    for name, value in outputs.items():
        column = value.numpy().tolist()
        if not isinstance(column, list) or len(column) != len(texts):
            raise ValueError(
                f"Output {name!r} of signature {signature!r} has shape "
                f"{value.shape}, not one row per text ({len(texts)}); TF "
                "Serving could not answer 'instances' requests either. "
                "Re-export with batch-major outputs."
            )
        # As in TF Serving's REST API, `*_bytes` outputs stay binary.
        columns[name] = _to_python(column, keep_bytes=name.endswith("_bytes"))
    return [{name: col[i] for name, col in columns.items()} for i in range(len(texts))]


def _model_url(server, model, version, label):
    if not isinstance(server, str) or not server:
        raise TypeError(
            f"`server` must be a URL string. Received: server={server!r}. Pass "
            "e.g. server='http://localhost:8501'."
        )
    if not isinstance(model, str) or not model:
        raise ValueError(
            "`model` (the TF Serving model name) is required with `server`. "
            f"Received: model={model!r}. Pass e.g. model='sentiment'."
        )
    if version is not None and label is not None:
        raise ValueError(
            "Pass at most one of `version` and `label`. Received: "
            f"version={version!r}, label={label!r}."
        )
    if "://" not in server:
        server = f"http://{server}"
    url = f"{server.rstrip('/')}/v1/models/{urllib.parse.quote(model, safe='')}"
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(
                "`version` must be a positive integer. Received: "
                f"version={version!r}. Pass e.g. version=2."
            )
        url += f"/versions/{version}"
    elif label is not None:
        if not isinstance(label, str) or not label:
            raise ValueError(
                "`label` must be a non-empty string. Received: "
                f"label={label!r}. Pass e.g. label='stable'."
            )
        url += f"/labels/{urllib.parse.quote(label, safe='')}"
    return url


def _request(url: str, body: dict | None, timeout: float) -> dict:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            message = json.loads(raw)["error"]
        except (ValueError, KeyError, TypeError):
            message = raw.decode("utf-8", errors="replace").strip() or e.reason
        raise ServingError(str(message), status=e.code, url=url) from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            message = f"no answer within {timeout} s; pass a larger `timeout`"
        else:
            message = (
                f"cannot reach TF Serving ({e.reason}). Is the model server "
                "running and listening for REST there? e.g. `docker run -p "
                "8501:8501 -v $PWD/saved_models:/models -e MODEL_NAME=NAME "
                "tensorflow/serving`"
            )
        raise ServingError(message, status=None, url=url) from None
    except (socket.timeout, TimeoutError):
        raise ServingError(
            f"no answer within {timeout} s; pass a larger `timeout`",
            status=None,
            url=url,
        ) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise ServingError(
            f"the answer is not JSON: {raw[:200]!r}", status=None, url=url
        ) from None


def _output_names(model_url: str, signature: str, timeout: float) -> list[str]:
    metadata = _request(f"{model_url}/metadata", None, timeout)
    try:
        sig = metadata["metadata"]["signature_def"]["signature_def"][signature]
        return sorted(sig["outputs"])
    except (KeyError, TypeError):
        return []


def _predict_rest(texts, server, model, version, label, signature, timeout):
    model_url = _model_url(server, model, version, label)
    body = {"signature_name": signature, "instances": texts}
    answer = _request(f"{model_url}:predict", body, timeout)
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list) or len(predictions) != len(texts):
        raise ServingError(
            f"expected {len(texts)} predictions, got {answer!r:.300}",
            status=None,
            url=f"{model_url}:predict",
        )
    predictions = _decode_b64(predictions)
    if all(isinstance(p, dict) for p in predictions):
        return predictions
    # A single-output signature answers bare values: name them from metadata.
    names = _output_names(model_url, signature, timeout)
    name = names[0] if len(names) == 1 else "output"
    return [{name: p} for p in predictions]


def predict(
    texts: str | Sequence[str],
    *,
    saved_model: str | os.PathLike | None = None,
    server: str | None = None,
    model: str | None = None,
    version: int | None = None,
    label: str | None = None,
    signature: str = DEFAULT_SIGNATURE,
    timeout: float = 30.0,
) -> list[dict]:
    """Run an exported model on texts, locally or through TF Serving.

    Exactly one of `saved_model` (a local SavedModel directory, loaded with
    `tf.saved_model.load`) and `server` (a TF Serving REST address) must be
    given. Both return one dict per text, keyed by output name, with plain
    Python values (`str` for strings, except `*_bytes` outputs).

    Args:
        texts: a string or a list of strings.
        saved_model: a SavedModel version directory, e.g.
            `saved_models/sentiment/1`.
        server: a TF Serving REST address, e.g. `http://localhost:8501`.
        model: the TF Serving model name (required with `server`).
        version: ask for this version (`/versions/N`).
        label: ask for this version label (`/labels/L`).
        signature: the signature name.
        timeout: seconds to wait for the server.

    Raises:
        ServingError: TF Serving answered with an error (its message and
            HTTP status are kept) or could not be reached.

    Example:
    >>> predict(["a great film"], server="localhost:8501",
    ...         model="sentiment")  # doctest: +SKIP
    [{'label': 'positive', 'probabilities': [0.03, 0.97], ...}]
    """
    texts = _check_texts(texts)
    if (saved_model is None) == (server is None):
        raise ValueError(
            "Pass exactly one of `saved_model` (a local SavedModel directory) "
            "and `server` (a TF Serving REST address). Received: "
            f"saved_model={saved_model!r}, server={server!r}."
        )
    if not isinstance(signature, str) or not signature:
        raise TypeError(
            f"`signature` must be a signature name. Received: "
            f"signature={signature!r}. Pass e.g. signature='serving_default'."
        )
    if saved_model is not None:
        if model is not None or version is not None or label is not None:
            raise ValueError(
                "`model`, `version` and `label` only apply with `server`. "
                f"Received: model={model!r}, version={version!r}, "
                f"label={label!r} with saved_model={str(saved_model)!r}."
            )
        if not texts:
            return []
        return _predict_local(texts, saved_model, signature)
    if not texts:
        return []
    return _predict_rest(texts, server, model, version, label, signature, timeout)


def model_status(
    server: str,
    model: str,
    *,
    version: int | None = None,
    label: str | None = None,
    timeout: float = 30.0,
) -> list[dict]:
    """Return TF Serving's `model_version_status` list for a model.

    Args:
        server: a TF Serving REST address, e.g. `http://localhost:8501`.
        model: the model name.
        version: ask about this version only.
        label: ask about this version label only.
        timeout: seconds to wait for the server.

    Example:
    >>> model_status("localhost:8501", "sentiment")  # doctest: +SKIP
    [{'version': '2', 'state': 'AVAILABLE', 'status': {...}}]
    """
    url = _model_url(server, model, version, label)
    answer = _request(url, None, timeout)
    return answer.get("model_version_status", []) if isinstance(answer, dict) else []


# --- Human-readable formatting --------------------------------------------

_PROBS_KEYS = ("probabilities", "probs", "scores")
_LABELS_KEYS = ("labels", "class_names", "classes")
_LABEL_SCORE_KEYS = ("score", "probability", "confidence")


def _first(pred: dict, keys) -> object:
    for key in keys:
        if key in pred:
            return pred[key]
    return None


def _count(pred: dict, key: str, default: int) -> int:
    value = pred.get(key)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return int(value) if isinstance(value, (int, float)) else default


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else []


def _fmt_score(score: object) -> str:
    if isinstance(score, (int, float)) and not math.isnan(score):
        return f" {score:.2f}"
    return ""


def _entities(pred: dict) -> list[tuple[str, str, object]]:
    """`(text, type, score)` triples from padded NER outputs."""
    texts = _as_list(pred.get("entity_text"))
    if texts:
        n = _count(pred, "num_entities", len(texts))
        types = _as_list(pred.get("entity_type"))
        scores = _as_list(pred.get("entity_score"))
        found = []
        for i, text in enumerate(texts[:n]):
            kind = types[i] if i < len(types) else ""
            if not text or kind in ("", "O"):  # padding
                continue
            found.append((text, kind, scores[i] if i < len(scores) else None))
        return found
    # No entity outputs: group BIO / IOB tags over words.
    words = _as_list(pred.get("words"))
    tags = _as_list(pred.get("tags"))
    n = _count(pred, "num_words", min(len(words), len(tags)))
    pairs = list(zip(words, tags))[:n]
    spans = tag_schemes.group_spans(_display_prefix(tag) for _, tag in pairs)
    return [
        (" ".join(word for word, _ in pairs[start:end]), kind, None)
        for kind, start, end in spans
    ]


def _display_prefix(tag: str) -> tuple[str, str]:
    """`(prefix, type)` of a served tag, for `tag_schemes.group_spans`.

    Read for display, never rejected: `""` is outside too, a tag without a
    hyphen is its own type, and a BILOU `U-` begins an entity like `B-`/`S-`.
    Every other prefix (`I-`, `E-`, `L-`, ...) continues a same-type entity,
    so it is read as `I` (an `E-` does not close it here).
    """
    if tag in ("", "O"):
        return "O", ""
    prefix, _, tag_type = tag.partition("-") if "-" in tag else ("", "", tag)
    return ("B" if prefix in ("B", "S", "U") else "I"), tag_type


def _format_ner(pred: dict) -> str:
    entities = _entities(pred)
    text = pred.get("text")
    if not isinstance(text, str):
        words = _as_list(pred.get("words"))
        words = words[: _count(pred, "num_words", len(words))]
        text = " ".join(w for w in words if w)
    out, pos, unplaced = [], 0, []
    for ent_text, kind, score in entities:
        at = text.find(ent_text, pos)
        if at < 0:
            unplaced.append(f"[{ent_text}]({kind}{_fmt_score(score)})")
            continue
        out.append(text[pos:at])
        out.append(f"[{ent_text}]({kind}{_fmt_score(score)})")
        pos = at + len(ent_text)
    out.append(text[pos:])
    lines = ["".join(out)] if text else []
    if unplaced:
        lines.append("entities: " + ", ".join(unplaced))
    if not entities:
        lines.append("(no entities)")
    return "\n".join(lines)


def _format_classification(pred: dict) -> str:
    label = pred["label"]
    if isinstance(label, list):  # multi-label: a list of label strings
        label = ", ".join(str(x) for x in label) or "(none)"
    probs = _as_list(_first(pred, _PROBS_KEYS))
    names = _as_list(_first(pred, _LABELS_KEYS))
    score = _first(pred, _LABEL_SCORE_KEYS)
    paired = len(names) == len(probs)
    if not isinstance(score, (int, float)) and label in names and paired:
        score = probs[names.index(label)]
    line = f"{label}" + (f" ({score:.2f})" if isinstance(score, (int, float)) else "")
    if probs and paired:
        others = sorted(
            ((p, n) for n, p in zip(names, probs) if n != label), reverse=True
        )
        if others:
            line += "  | " + ", ".join(f"{n} {p:.2f}" for p, n in others)
    elif probs and all(isinstance(p, (int, float)) for p in probs):
        # No class names to pair them with: show them in output order.
        line += "  | probabilities " + ", ".join(f"{p:.2f}" for p in probs)
    return line


def format_prediction(pred: dict) -> str:
    """Render one prediction for people to read.

    NER-shaped outputs (`entity_text`/`entity_type`/`entity_score`, or
    `words` with `tags`, padded and cut at `num_entities`/`num_words`) show
    the text with entities inline, e.g. `[Barack Obama](PER 0.98) visited
    [Paris](LOC 0.95)`. Outputs with a `label` show it with its probability
    and the other classes' probabilities. Anything else prints its keys.

    Args:
        pred: one dict as returned by `predict`.

    Example:
    >>> format_prediction({"label": "positive", "labels": ["negative", "positive"],
    ...                    "probabilities": [0.1, 0.9]})
    'positive (0.90)  | negative 0.10'
    """
    if not isinstance(pred, dict):
        raise TypeError(
            "`pred` must be a dict of output name to value, as returned by "
            f"`predict`. Received: pred={pred!r:.200}."
        )
    if "entity_text" in pred or ("words" in pred and "tags" in pred):
        return _format_ner(pred)
    if "label" in pred:
        return _format_classification(pred)
    return "\n".join(f"{key}: {value}" for key, value in sorted(pred.items()))
