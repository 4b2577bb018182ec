"""The fault harness (`benchmarks/faults.py`, `make faults`): its detectors on
hand-made damage, and one real fixed-seed kill trial of kerasft-pretrain."""

import hashlib
import importlib.util
import json
import sys

import pytest

from conftest import REPO


def _load_harness():
    # A script, not a package module: imported by path (and registered, which
    # dataclasses need).
    spec = importlib.util.spec_from_file_location("kerasft_faults", REPO / "benchmarks" / "faults.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


faults = _load_harness()


def test_partial_artifacts_are_found(tmp_path):
    good = {"steps": 8, "history": [1.0, 2.0]}
    (tmp_path / "metrics.json").write_text(json.dumps(good))
    (tmp_path / "config.json").write_text(json.dumps(good)[:-3])  # cut mid-write
    (tmp_path / "report.md").write_text("# Report\n\n## Verdict\nbaseline wins")  # no end
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 20 + b"\0\0\0\0" + faults.PNG_END
    (tmp_path / "curve.png").write_bytes(png)
    (tmp_path / "cut.png").write_bytes(png[:-5])
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch-01.weights.h5").write_bytes(b"\x89HDF\r\n")
    (tmp_path / ".tmp-123-metrics.json").write_text("{")  # a temporary, not an artifact
    scan = faults.scan_artifacts(tmp_path)
    assert sorted(p.split(":")[0] for p in scan.lost) == ["config.json", "cut.png", "report.md"]
    assert any("checkpoints/epoch-01" in n for n in scan.notes)
    assert any("temporary left: .tmp-123-metrics.json" == n for n in scan.notes)
    ending = "`results.json`."
    (tmp_path / "report.md").write_text("# Report\n\nsee `results.json`.\n")
    assert faults.artifact_problem(tmp_path / "report.md", ending) is None
    (tmp_path / "report.md").write_text("# Report\n\nsee `res\n")
    assert "partial report" in faults.artifact_problem(tmp_path / "report.md", ending)


def _checkpoint(backup, step, weights=b"weights", sha=None):
    directory = backup / f"step-{step:08d}"
    directory.mkdir(parents=True)
    (directory / "masked_lm.weights.h5").write_bytes(weights)
    digest = sha or hashlib.sha256(weights).hexdigest()
    (directory / "state.json").write_text(json.dumps({"step": step, "epoch": step // 2,
                                                      "weights_sha256": digest}))


def test_newest_sound_checkpoint_skips_damaged_ones(tmp_path):
    backup = tmp_path / "backup"
    assert faults.newest_sound_checkpoint(backup) is None
    _checkpoint(backup, 4)
    _checkpoint(backup, 6, sha="0" * 64)  # weights altered after the state was written
    (backup / "step-00000008").mkdir()  # no state.json
    (backup / ".tmp-9-step-00000010").mkdir()
    assert faults.newest_sound_checkpoint(backup)["step"] == 4


def test_version_ledger_finds_a_half_deleted_version(tmp_path):
    model = tmp_path / "sentiment"
    for version in ("1", "2"):
        (model / version / "variables").mkdir(parents=True)
        (model / version / "saved_model.pb").write_bytes(b"pb")
        (model / version / "variables" / "variables.index").write_bytes(b"ix")
    ledger = faults.VersionLedger(tmp_path, expected={"saved_model.pb", "variables/variables.index"})
    ledger.trust([model])
    assert ledger.check([model], "t") == []
    (model / "1" / "saved_model.pb").unlink()  # a prune killed mid-rmtree
    (model / "3").mkdir()  # a new version with nothing in it
    problems = ledger.check([model], "t")
    assert len(problems) == 2
    assert "1 changed" in problems[0] and "3 is incomplete" in problems[1]


def test_table_totals():
    rows = [{"binary": "kerasft-pretrain", "trials": 2, "faults_injected": 2, "survived": 2,
             "lost": 0, "seconds": 10.0},
            {"binary": "kerasft-export", "trials": 2, "faults_injected": 1, "survived": 1,
             "lost": 1, "seconds": 5.5}]
    table = faults.format_table(rows)
    assert table.splitlines()[0].startswith("| binary")
    total = [cell.strip() for cell in table.splitlines()[-1].split("|")[1:-1]]
    assert total == ["total", "4", "3", "3", "1", "15.5"]


@pytest.mark.large
@pytest.mark.subprocess
def test_one_pretrain_kill_trial_loses_nothing(tmp_path):
    """A real SIGKILL (seed 0: 9.9 s into a ~22 s run) and a --resume rerun
    whose backbone must equal an uninterrupted run's (run alongside)."""
    harness = faults.Harness(tmp_path / "faults", seed=0, parallel=2, kill_window=20.0,
                             quiet=True)
    (trial,) = harness.run(["pretrain"], trials=1)
    assert trial.kill_at == pytest.approx(9.89, abs=0.01)
    assert trial.killed, trial
    assert trial.rerun_exit == 0 and trial.lost == [], trial.lost
    metrics = json.loads((tmp_path / "faults/pretrain/trial-00/run/metrics.json").read_text())
    assert metrics["resumed_from_step"] == trial.state["checkpoint_step"]
