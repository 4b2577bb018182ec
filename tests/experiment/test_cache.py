"""The run cache: finished runs are reused, interrupted ones resume, changed ones rerun."""

import json

import pytest

from kerasft.experiment.cache import RUN_RECORD, cached_run


class Killed(Exception):
    pass


def test_an_interrupted_run_resumes_only_with_the_same_settings(tmp_path):
    calls = []

    def interrupted(resume):
        calls.append(resume)
        raise Killed

    def finishes(resume):
        calls.append(resume)
        return {"score": 1.0}

    run_dir = str(tmp_path / "run")
    with pytest.raises(Killed):
        cached_run(run_dir, {"lr": 1}, interrupted, resumable=True)
    assert cached_run(run_dir, {"lr": 1}, finishes, resumable=True) == {"score": 1.0}
    assert calls == [False, True]
    # Finished: reused without running.
    assert cached_run(run_dir, {"lr": 1}, finishes, resumable=True) == {"score": 1.0}
    assert calls == [False, True]
    record = json.loads((tmp_path / "run" / RUN_RECORD).read_text())
    assert record == {"spec": {"lr": 1}, "result": {"score": 1.0}}

    # Other settings: neither reused nor resumed.
    with pytest.raises(Killed):
        cached_run(run_dir, {"lr": 2}, interrupted, resumable=True)
    assert cached_run(run_dir, {"lr": 3}, finishes, resumable=True) == {"score": 1.0}
    assert calls == [False, True, False, False]
    # reuse=False never resumes either.
    with pytest.raises(Killed):
        cached_run(run_dir, {"lr": 4}, interrupted, resumable=True)
    cached_run(run_dir, {"lr": 4}, finishes, resumable=True, reuse=False)
    assert calls[-2:] == [False, False]


def test_a_run_that_cannot_resume_is_called_without_arguments(tmp_path):
    assert cached_run(str(tmp_path), {"a": 1}, lambda: {"x": 2}) == {"x": 2}
