"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`.

TF Serving replays these `PredictionLog` records when it loads a version,
before marking it AVAILABLE, so the first real request does not pay for
tracing and table initialization. See
https://www.tensorflow.org/tfx/serving/saved_model_warmup.
"""

from __future__ import annotations

import os
from pathlib import Path

WARMUP_DIRNAME = "assets.extra"
WARMUP_FILENAME = "tf_serving_warmup_requests"
# TF Serving reads at most this many records and fails the load beyond it.
MAX_WARMUP_RECORDS = 1000


def warmup_file(saved_model_dir: str | os.PathLike) -> Path:
    """Return where a SavedModel's warmup file lives.

    Args:
        saved_model_dir: a SavedModel version directory.

    Example:
    >>> warmup_file("saved_models/sentiment/1")
    PosixPath('saved_models/sentiment/1/assets.extra/tf_serving_warmup_requests')
    """
    return Path(saved_model_dir) / WARMUP_DIRNAME / WARMUP_FILENAME


def _check_requests(requests: object) -> dict[str, list[list[str]]]:
    hint = (
        'Expected a dict of signature name -> list of text batches, e.g. '
        '{"serving_default": [["a text", "another"], ["one more"]]}.'
    )
    if not isinstance(requests, dict) or not requests:
        raise TypeError(
            "`requests` must be a non-empty dict. Received: "
            f"requests={requests!r}. {hint}"
        )
    total = 0
    for signature, batches in requests.items():
        if not isinstance(signature, str) or not signature:
            raise TypeError(
                "`requests` keys must be signature names (non-empty str). "
                f"Received key: {signature!r}. {hint}"
            )
        if isinstance(batches, (str, bytes)) or not isinstance(batches, (list, tuple)):
            raise TypeError(
                f"`requests[{signature!r}]` must be a list of text batches. "
                f"Received: {batches!r}. {hint}"
            )
        for batch in batches:
            if (
                isinstance(batch, (str, bytes))
                or not isinstance(batch, (list, tuple))
                or not batch
                or not all(isinstance(t, str) for t in batch)
            ):
                raise TypeError(
                    f"Each batch in `requests[{signature!r}]` must be a "
                    f"non-empty list of str. Received: {batch!r}. {hint}"
                )
        total += len(batches)
    if total > MAX_WARMUP_RECORDS:
        raise ValueError(
            f"TF Serving accepts at most {MAX_WARMUP_RECORDS} warmup records. "
            f"Received: {total} batches in `requests`. Pass fewer batches "
            "(a handful per signature, at the batch sizes you expect, is "
            "enough)."
        )
    return requests


def write_warmup_requests(
    saved_model_dir: str | os.PathLike,
    requests: dict[str, list[list[str]]],
    *,
    input_name: str = "text",
) -> Path:
    """Write warmup requests into a SavedModel directory.

    Each batch becomes one `PredictionLog` record wrapping a `PredictRequest`
    for its signature, with the texts as a `DT_STRING` tensor under
    `input_name`. An existing warmup file is replaced.

    Args:
        saved_model_dir: a SavedModel directory (the temporary one, before
            the version is renamed into place).
        requests: signature name -> list of text batches. At most 1000
            batches in all.
        input_name: the signature input key.

    Returns:
        The path of the warmup file.

    Example:
    >>> write_warmup_requests(
    ...     export_dir, {"serving_default": [["great film"], ["a", "b"]]}
    ... )  # doctest: +SKIP
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    requests = _check_requests(requests)
    if not (Path(saved_model_dir) / "saved_model.pb").is_file():
        raise ValueError(
            "`saved_model_dir` must be a SavedModel directory (with "
            f"saved_model.pb). Received: saved_model_dir={str(saved_model_dir)!r}. "
            "Write the SavedModel first, then the warmup requests."
        )
    path = warmup_file(saved_model_dir)
    path.parent.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, batches in requests.items():
            for batch in batches:
                request = predict_pb2.PredictRequest()
                request.model_spec.signature_name = signature
                request.inputs[input_name].CopyFrom(
                    tf.make_tensor_proto(list(batch), dtype=tf.string)
                )
                log = prediction_log_pb2.PredictionLog(
                    predict_log=prediction_log_pb2.PredictLog(request=request)
                )
                writer.write(log.SerializeToString())
    return path


def read_warmup_requests(
    path: str | os.PathLike,
    *,
    input_name: str = "text",
) -> list[tuple[str, list[str]]]:
    """Read warmup requests back as `(signature_name, texts)` pairs.

    Args:
        path: the warmup file, or a SavedModel directory holding one.
        input_name: the signature input key to read.

    Example:
    >>> read_warmup_requests("saved_models/sentiment/1")  # doctest: +SKIP
    [('serving_default', ['great film']), ('serving_default', ['a', 'b'])]
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(path)
    if path.is_dir():
        path = warmup_file(path)
    if not path.is_file():
        raise ValueError(
            f"No warmup file at {str(path)!r}. Received: path={str(path)!r}. "
            "Expected a SavedModel directory with "
            f"{WARMUP_DIRNAME}/{WARMUP_FILENAME}, or that file itself."
        )
    pairs = []
    for i, record in enumerate(tf.data.TFRecordDataset(str(path))):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(
                f"{path}, record {i}: expected a predict_log, got "
                f"{log.WhichOneof('log_type')!r}. kerasft only writes predict "
                "requests; rewrite the file with `write_warmup_requests`."
            )
        request = log.predict_log.request
        if input_name not in request.inputs:
            raise ValueError(
                f"{path}, record {i}: no input {input_name!r} (inputs: "
                f"{sorted(request.inputs)}). Pass the right `input_name`."
            )
        values = tf.make_ndarray(request.inputs[input_name]).reshape(-1)
        texts = [v.decode("utf-8") for v in values.tolist()]
        pairs.append((request.model_spec.signature_name or "serving_default", texts))
    return pairs
