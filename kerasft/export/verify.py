"""Verify an export by running `serving_check.py` in a fresh process.

A fresh process is the closest we get to the model server: only TF core and
tensorflow-text ops are registered, and nothing from kerasft or keras-hub
(which register their own Python-side state) is loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SERVING_CHECK_SCRIPT = Path(__file__).with_name("serving_check.py")


class ExportVerificationError(ValueError):
    """A SavedModel failed the TF Serving checks.

    Attributes:
        summary: the checker's JSON summary (with a `failures` list), or
            `None` if the checker crashed before writing one.
        output: the checker's stdout and stderr.
    """

    def __init__(self, message: str, *, summary: dict | None, output: str):
        super().__init__(message)
        self.summary = summary
        self.output = output


def _last_json_line(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def verify_saved_model(
    path: str | os.PathLike,
    *,
    timeout: float = 600.0,
) -> dict:
    """Check that a SavedModel will load and answer in TF Serving.

    Runs `serving_check.py` with `sys.executable` in a new process: checks
    every op against the TF Serving allow-list (TF core plus covered
    tensorflow-text ops, no Python ops), loads the model, calls every
    signature on a probe batch, checks outputs are dense and batch-major, and
    replays the warmup requests.

    Args:
        path: a SavedModel version directory.
        timeout: seconds before the check is abandoned.

    Returns:
        The checker's summary: `ok`, `ops`, `tf_text_ops`, `signatures`,
        `warmup_records`, `warmup_replayed`, `modules` (top-level modules the
        child imported), ...

    Raises:
        ExportVerificationError: if any check fails; the message lists every
            problem and how to fix it.

    Example:
    >>> summary = verify_saved_model("saved_models/sentiment/1")  # doctest: +SKIP
    >>> summary["tf_text_ops"]  # doctest: +SKIP
    ['CaseFoldUTF8', 'NormalizeUTF8', 'RegexSplitWithOffsets', ...]
    """
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise ValueError(
            "`path` must be a SavedModel directory containing saved_model.pb. "
            f"Received: path={str(path)!r}. Pass a version directory such as "
            "saved_models/NAME/1."
        )
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # -P: do not put the script's directory (inside kerasft) on sys.path.
    command = [
        sys.executable, "-P", str(SERVING_CHECK_SCRIPT), str(path.resolve()), "--json"
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as e:
        raise ExportVerificationError(
            f"The TF Serving check of {path} did not finish within {timeout} s. "
            "Pass a larger `timeout`, or check the model on a smaller input.",
            summary=None,
            output=f"{e.stdout or ''}{e.stderr or ''}",
        ) from None
    output = result.stdout + result.stderr
    summary = _last_json_line(result.stdout)
    if result.returncode == 0 and summary is not None and summary.get("ok"):
        return summary
    if summary is not None and summary.get("failures"):
        problems = "\n".join(f"  - {f}" for f in summary["failures"])
        message = (
            f"The SavedModel at {path} would fail in TF Serving "
            f"({len(summary['failures'])} problems):\n{problems}"
        )
    else:
        tail = "\n".join(output.strip().splitlines()[-15:])
        message = (
            f"The TF Serving check of {path} crashed (exit code "
            f"{result.returncode}). Its last output:\n{tail}"
        )
    raise ExportVerificationError(message, summary=summary, output=output)
