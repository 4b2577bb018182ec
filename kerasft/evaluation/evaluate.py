"""Evaluate a trained task model's heads on a labelled file, the library call behind `kerasft-evaluate`."""

from __future__ import annotations

import os
from collections.abc import Sequence

from kerasft.atomic_files import write_json
from kerasft.task import TaskModel, load_model, resolve_model_path


def evaluate_file(
    model: TaskModel,
    head_name: str,
    path: str,
    output_dir: str | None = None,
    *,
    prefix: str | None = None,
    batch_size: int = 64,
) -> dict:
    """One head's report on a labelled file, optionally writing its reports.

    The file is read with the head's own reader (JSONL for classification,
    CoNLL for NER); a label the head was not trained with fails with the
    file, line and label.

    Args:
        model: a trained `TaskModel`.
        head_name: the head to evaluate.
        path: the labelled file, in the head's format.
        output_dir: where to write the head's reports (`{prefix}_report.txt`
            and `{prefix}_confusion_matrix.png` for classification,
            `{prefix}_entities.txt` for NER); None writes nothing.
        prefix: report file prefix; default the head name.
        batch_size: prediction batch size.

    Returns:
        The head's report (accuracy, per-class or per-type scores, ...), with
        `"reports"` listing the files written.

    Example:
    >>> report = evaluate_file(model, "sentiment", "test.jsonl", "eval/")  # doctest: +SKIP
    >>> report["accuracy"]  # doctest: +SKIP
    0.77
    """
    from kerasft.evaluation.predict import evaluate_model

    head = model.head(head_name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`data` file not found: {path!r}.")
    examples = head.read_examples(path)
    if not examples:
        raise ValueError(f"`data` file {path!r} holds no examples for head {head_name!r}.")
    try:
        head.encode(examples)
    except ValueError as e:
        raise ValueError(
            f"{path} does not match head {head_name!r} of the model: {e}"
        ) from None
    report = evaluate_model(model, head_name, examples, batch_size=batch_size)
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        files = head.write_reports(report, output_dir, prefix=prefix or head_name)
        report["reports"] = [os.path.basename(f) for f in files]
    return report


def evaluate_model_file(
    model_path: str,
    data: str,
    output_dir: str,
    heads: Sequence[str] | None = None,
    *,
    batch_size: int = 64,
) -> dict:
    """Load a model, evaluate heads on a file, and write `metrics.json` and the reports.

    Args:
        model_path: a `.keras` file or a run directory holding `model.keras`.
        data: the labelled file, in the heads' format.
        output_dir: the output directory (created).
        heads: head names; default every head of the model.
        batch_size: prediction batch size.

    Returns:
        The contents of `metrics.json`: `model`, `data` and `heads` (head
        name to its report, with a one-line `summary`).

    Example:
    >>> metrics = evaluate_model_file("runs/sentiment", "test.jsonl", "eval/")  # doctest: +SKIP
    """
    model = load_model(resolve_model_path(model_path), compile=False)
    names = list(heads) if heads else [h.name for h in model.heads]
    for name in names:
        model.head(name)  # unknown names fail before any work
    metrics = {"model": model_path, "data": data, "heads": {}}
    for name in names:
        report = evaluate_file(model, name, data, output_dir, batch_size=batch_size)
        report["summary"] = model.head(name).summarize(report)
        metrics["heads"][name] = report
    os.makedirs(output_dir, exist_ok=True)
    write_json(os.path.join(output_dir, "metrics.json"), metrics, default=_jsonable)
    return metrics


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")
