"""The run cache: a finished run is reused when its recorded settings match.

Each run directory gets `experiment_run.json`, `{"spec": ..., "result": ...}`:
the settings that made the run and the numbers the experiment keeps from it.
It is written last and atomically, so an interrupted run is never reused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from absl import logging

from kerasft.atomic_files import write_json

RUN_RECORD = "experiment_run.json"
# Written when a run starts: an interrupted run with the same settings resumes.
STARTED_RECORD = "experiment_run.started.json"


def _load_record(run_dir: str, spec: dict, reuse: bool) -> dict | None:
    path = os.path.join(run_dir, RUN_RECORD)
    if not reuse or not os.path.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    # Only a run made with exactly these settings may stand in for a new one.
    return record if record.get("spec") == spec else None


def _save_record(run_dir: str, record: dict) -> None:
    # Atomic: a crash mid-write leaves no half-written record to reuse.
    write_json(os.path.join(run_dir, RUN_RECORD), record, default=str)


def _started_with(run_dir: str, spec: dict) -> bool:
    path = os.path.join(run_dir, STARTED_RECORD)
    try:
        with open(path) as f:
            return json.load(f).get("spec") == spec
    except (OSError, ValueError, AttributeError):
        return False


def cached_run(
    run_dir: str,
    spec: dict,
    run: Callable[..., dict],
    *,
    reuse: bool = True,
    what: str = "run",
    resumable: bool = False,
) -> dict:
    """The result of a finished run with these settings, else `run()`'s, recorded.

    Args:
        run_dir: the run's directory (`run` creates it).
        spec: every setting the result depends on.
        run: trains and returns the result to keep (JSON-serialisable);
            called as `run(resume)` when `resumable`.
        reuse: False reruns even when a matching record exists.
        what: the run's kind, for the log lines.
        resumable: `run` can continue from its own checkpoints: `resume` is
            True when an interrupted run with the same settings is there.

    Example:
    >>> result = cached_run(run_dir, {"finetune": settings},  # doctest: +SKIP
    ...                     lambda: train(run_dir), what="fine-tuning")
    """
    # As it reads back from the record: tuples become lists, odd values strings.
    spec = json.loads(json.dumps(spec, default=str))
    record = _load_record(run_dir, spec, reuse)
    if record is not None:
        logging.info("Reusing the %s in %s.", what, run_dir)
        return record["result"]
    if not resumable:
        result = run()
    else:
        resume = reuse and _started_with(run_dir, spec)
        if resume:
            logging.info("Resuming the interrupted %s in %s.", what, run_dir)
        os.makedirs(run_dir, exist_ok=True)
        write_json(os.path.join(run_dir, STARTED_RECORD), {"spec": spec}, default=str)
        result = run(resume)
    _save_record(run_dir, {"spec": spec, "result": result})
    return result
