"""Fault harness (issue 15): SIGKILL the binaries at random moments, rerun, check.

For each of `kerasft-pretrain`, `kerasft-finetune`, `kerasft-export` and
`kerasft-experiment` on tiny budgets: one uninterrupted reference run (timed),
then N trials that each start the command, SIGKILL it (its whole process
group: the export's verifier child too, as a lost machine would) at a seeded
random moment of its run (a seeded fraction of its uninterrupted duration:
the reference run's, updated by every later run that had nothing to resume,
as the machine's load varies), check the run directory, rerun the same command
(`--resume` for pretrain and finetune; export and experiment are simply
rerun) and check again:

* the rerun exits 0;
* pretrain: the final backbone weights (and vocabulary) equal the reference
  run's exactly, and `resumed_from_step` is the step of the newest sound
  checkpoint in `backup/` before the rerun (0 if none);
* finetune: `resumed_from_epoch` is the newest sound checkpoint's epoch
  before the rerun (0 if none) and every epoch ran (`epochs_run`, history);
* export: every numeric version directory is complete (those created since
  the last check verify in a fresh process with `kerasft-export --verify`;
  older ones still hold every file they had), no `.tmp-*` is left after the
  rerun, `models.config` parses and lists only existing versions;
* experiment: `report.md`, `results.json` and `config.json` parse and are
  complete, every run record that existed before the rerun was reused (its
  "Reusing the ..." log line), its serving exports verify;
* every `*.json` / `*.md` / `*.png` / weights file in the run directory
  (outside `.tmp-*` temporaries) is complete or absent, never partial, right
  after the kill and after the rerun.

Prints a table (binary, trials, faults injected, survived, lost, seconds),
writes it with every trial's record to WORKDIR/faults.json, and exits 1 if
anything was lost. Children run with one TF thread each, so `--parallel=2`
fits two cores.

Usage (`make faults` runs the defaults: 20 trials of each binary):
    python benchmarks/faults.py [--trials=20] [--seed=0] \
        [--binaries=pretrain,finetune,export,experiment] [--workdir=runs/faults] \
        [--parallel=2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ALL_BINARIES = ("pretrain", "finetune", "export", "experiment")
# One TF thread per child: `--parallel` workers share the cores.
CHILD_ENV = dict(
    os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
    OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
)
MARKER = ".kerasft-faults"
TMP_PREFIX = ".tmp-"
NUMERIC = re.compile(r"[0-9]+")
PNG_END = b"IEND\xaeB`\x82"

# The tiny sentiment task of tests/conftest.py, three copies of each row.
POSITIVE = [
    "the film is good", "a great movie", "wonderful acting and story",
    "it was fun", "loved this movie", "the plot is very good",
    "great fun , wonderful", "a good film !",
]
NEGATIVE = [
    "the film is bad", "an awful movie", "dull acting and boring story",
    "it was not fun", "hated this movie", "the plot is very dull",
    "boring , awful", "a bad film .",
]
TINY_MODEL = ["--hidden_dim=16", "--intermediate_dim=32", "--num_heads=2",
              "--num_layers=1", "--sequence_length=16"]
PRETRAIN_STEPS, CHECKPOINT_EVERY, FINETUNE_EPOCHS = 8, 2, 4


# --------------------------------------------------------------------------
# Processes


@dataclasses.dataclass
class Outcome:
    returncode: int | None
    seconds: float
    log: str
    killed: bool = False  # the SIGKILL landed while the process was alive


def _binary(name: str) -> str:
    return str(BIN / f"kerasft-{name}")


def run(cmd: list[str], log: Path, timeout: float = 1200.0) -> Outcome:
    """Run `cmd` to completion, output to `log`."""
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                env=CHILD_ENV, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            code = None
    return Outcome(code, time.monotonic() - start, str(log))


def run_and_kill(cmd: list[str], log: Path, kill_at: float,
                 trigger: str | None = None) -> Outcome:
    """Start `cmd` and SIGKILL its process group `kill_at` seconds in, or,
    with `trigger`, `kill_at` seconds after that text first appears in its
    output (a moment inside training, after the first checkpoint)."""
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                env=CHILD_ENV, start_new_session=True)
        if trigger:
            while proc.poll() is None and trigger not in Path(log).read_text(errors="replace"):
                time.sleep(0.01)
        try:
            code = proc.wait(timeout=kill_at)
            killed = False
        except subprocess.TimeoutExpired:
            killed = _kill_group(proc)
            code = proc.returncode
    return Outcome(code, time.monotonic() - start, str(log), killed=killed)


def _kill_group(proc: subprocess.Popen) -> bool:
    """SIGKILL `proc`'s process group; True if `proc` was still running."""
    alive = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return alive


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def verify_version(path: Path, log: Path) -> str | None:
    """None if `kerasft-export --verify=path` passes, else what it said."""
    outcome = run([_binary("export"), f"--verify={path}"], log, timeout=600)
    text = tail(outcome.log, 400)
    if outcome.returncode == 0 and any(l.startswith("OK:") for l in text.splitlines()):
        return None
    return f"{path} does not verify (exit {outcome.returncode}): {tail(outcome.log, 4).strip()}"


# --------------------------------------------------------------------------
# Completeness of artifacts


def _skipped(rel_parts: tuple[str, ...]) -> bool:
    # A temporary (being written, or left by a kill) is not an artifact.
    return any(p.startswith(TMP_PREFIX) or p.endswith(".tmp") for p in rel_parts)


def _h5_problem(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            datasets = []
            f.visititems(lambda _, v: datasets.append(v) if isinstance(v, h5py.Dataset) else None)
            for d in datasets:
                d[()]
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        return f"unreadable HDF5 ({type(e).__name__}: {str(e)[:80]})"
    return None


def _zip_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except Exception as e:  # noqa: BLE001
        return f"unreadable zip ({type(e).__name__}: {str(e)[:80]})"
    return None if bad is None else f"corrupt member {bad}"


def artifact_problem(path: Path, report_ending: str | None = None) -> str | None:
    """What is partial about `path`, or None (complete, or not a checked kind)."""
    name = path.name
    try:
        if name.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                json.load(f)
        elif name.endswith(".md"):
            text = path.read_text(encoding="utf-8")
            if not text.startswith("# ") or not text.endswith("\n"):
                return "partial markdown (no title or no final newline)"
            if name == "report.md" and report_ending and not text.rstrip().endswith(report_ending):
                return f"partial report (does not end with {report_ending!r})"
        elif name.endswith(".png"):
            data = path.read_bytes()
            if not data.startswith(b"\x89PNG") or not data.endswith(PNG_END):
                return "partial PNG"
        elif name.endswith(".h5"):
            return _h5_problem(path)
        elif name.endswith((".keras", ".npz")):
            return _zip_problem(path)
    except (OSError, ValueError) as e:
        return f"{type(e).__name__}: {str(e)[:100]}"
    return None


@dataclasses.dataclass
class Scan:
    lost: list[str]  # partial artifacts
    notes: list[str]  # partial files of lesser kinds, leftover temporaries


def scan_artifacts(root: Path, report_ending: str | None = None) -> Scan:
    """Every checked file under `root`: complete or absent.

    Keras's per-epoch `checkpoints/` snapshots (written in place by
    `ModelCheckpoint`, not used by --resume) and TensorBoard event files are
    reported as notes, not losses; so are leftover `.tmp-*` temporaries.
    """
    lost, notes = [], []
    if not root.exists():
        return Scan(lost, notes)
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        for d in list(dirnames):
            if d.startswith(TMP_PREFIX):
                notes.append(f"temporary left: {Path(dirpath, d).relative_to(root)}")
                dirnames.remove(d)
        if _skipped(rel):
            continue
        for fname in filenames:
            if fname.startswith(TMP_PREFIX) or fname.endswith(".tmp"):
                notes.append(f"temporary left: {Path(dirpath, fname).relative_to(root)}")
                continue
            path = Path(dirpath, fname)
            problem = artifact_problem(path, report_ending)
            if problem:
                where = str(path.relative_to(root))
                (notes if "checkpoints" in rel else lost).append(f"{where}: {problem}")
    return Scan(lost, notes)


# --------------------------------------------------------------------------
# Checkpoints and versions


def newest_sound_checkpoint(backup: Path) -> dict | None:
    """The `state.json` of the newest sound `backup/step-N/` (the one
    `--resume` takes: `kerasft.checkpoints.latest_checkpoint`), or None."""
    from kerasft.checkpoints import latest_checkpoint

    checkpoint = latest_checkpoint(str(backup))
    return None if checkpoint is None else checkpoint.state


def h5_arrays(path: Path) -> dict:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


def weights_difference(a: Path, b: Path) -> str | None:
    """None if the two weights files hold identical arrays, else the first difference."""
    import numpy as np

    x, y = h5_arrays(a), h5_arrays(b)
    if sorted(x) != sorted(y):
        return f"different variables: {sorted(set(x) ^ set(y))[:5]}"
    for key in sorted(x):
        if x[key].shape != y[key].shape or not np.array_equal(x[key], y[key]):
            diff = (float(np.max(np.abs(x[key].astype("float64") - y[key].astype("float64"))))
                    if x[key].shape == y[key].shape else "shape")
            return f"{key} differs (max |diff| {diff})"
    return None


def tree(directory: Path) -> dict[str, int]:
    """Relative path -> size of every file under `directory`."""
    out = {}
    for dirpath, _, filenames in os.walk(directory):
        for fname in filenames:
            p = Path(dirpath, fname)
            out[str(p.relative_to(directory))] = p.stat().st_size
    return out


class VersionLedger:
    """The numeric version directories under one or more model directories.

    A version seen before (same directory inode) must still hold the files
    it had; a new one must pass `kerasft-export --verify` (once), or, given
    `expected` (the file names of a verified version of the same model),
    hold exactly those files (a cheaper check, for the experiment's serving
    exports).
    """

    def __init__(self, logs: Path, expected: set[str] | None = None):
        self.known: dict[tuple[str, int], dict[str, int]] = {}
        self.logs = logs
        self.expected = expected
        self.verified = 0

    @staticmethod
    def versions(model_dirs: list[Path]) -> list[Path]:
        out = []
        for model_dir in model_dirs:
            if model_dir.is_dir():
                out += [c for c in sorted(model_dir.iterdir())
                        if NUMERIC.fullmatch(c.name) and c.is_dir()]
        return out

    def trust(self, model_dirs: list[Path]) -> None:
        """Record the versions there now as complete (copies of verified ones)."""
        for version in self.versions(model_dirs):
            self.known[(str(version), version.stat().st_ino)] = tree(version)

    def check(self, model_dirs: list[Path], label: str) -> list[str]:
        problems = []
        for version in self.versions(model_dirs):
            key = (str(version), version.stat().st_ino)
            if key in self.known:
                now = tree(version)
                if now != self.known[key]:
                    missing = sorted(set(self.known[key]) - set(now))
                    problems.append(f"version {version} changed: now {len(now)} files"
                                    f" (missing {missing[:3]})")
                continue
            self.verified += 1
            if self.expected is not None:
                names = set(tree(version))
                problem = None if names == self.expected else (
                    f"version {version} is incomplete: missing "
                    f"{sorted(self.expected - names)[:3]}, unexpected {sorted(names - self.expected)[:3]}")
            else:
                log = self.logs / f"verify-{label}-{self.verified}.log"
                problem = verify_version(version, log)
            if problem:
                problems.append(problem)
            else:
                self.known[key] = tree(version)
        return problems


def models_config_problems(root: Path) -> list[str]:
    """`root/models.config` parses and names only model dirs with versions."""
    path = root / "models.config"
    if not path.exists():
        return []
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(path.read_text(), config)
    except Exception as e:  # noqa: BLE001
        return [f"models.config does not parse: {type(e).__name__}: {str(e)[:100]}"]
    problems = []
    for entry in config.model_config_list.config:
        if not VersionLedger.versions([Path(entry.base_path)]):
            problems.append(f"models.config lists {entry.name} at {entry.base_path}, "
                            "which has no version")
    return problems


def temporaries(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if name.startswith(TMP_PREFIX):
                out.append(str(Path(dirpath, name).relative_to(root)))
    return out


# --------------------------------------------------------------------------
# The binaries


@dataclasses.dataclass
class Reference:
    seconds: float
    directory: Path


class Binary:
    """One binary's command, reference run and checks (subclasses)."""

    name = ""
    resume_flag = False
    # Printed when the second epoch starts (the first checkpoint is written).
    training_trigger: str | None = None

    def __init__(self, harness: Harness):
        self.h = harness

    def command(self, out: Path) -> list[str]:
        raise NotImplementedError

    def run_dir(self, trial: Path) -> Path:
        return trial / "run"

    def make_reference(self) -> Reference:
        directory = self.h.workdir / "reference" / self.name
        directory.mkdir(parents=True)
        self.setup(directory)
        outcome = run(self.command(self.run_dir(directory)), directory / "run.log")
        if outcome.returncode != 0:
            raise RuntimeError(f"The reference {self.name} run failed "
                               f"(exit {outcome.returncode}):\n{tail(outcome.log, 30)}")
        return Reference(outcome.seconds, directory)

    def setup(self, trial: Path) -> None:
        """Prepare a trial directory before the first (killed) run."""

    def before_rerun(self, trial: Path) -> dict:
        return {}

    def rerun_command(self, trial: Path) -> list[str]:
        cmd = self.command(self.run_dir(trial))
        return cmd + ["--resume"] if self.resume_flag else cmd

    def ledger(self, trial: Path) -> VersionLedger:
        return VersionLedger(trial)

    def after_kill(self, trial: Path, ledger: VersionLedger) -> list[str]:
        return []

    def rerun_is_full(self, state: dict) -> bool:
        """Whether the rerun had nothing to resume or reuse (so its time is
        the binary's uninterrupted run time under the current load)."""
        return False

    def check(self, trial: Path, state: dict, rerun_log: str, ledger: VersionLedger) -> list[str]:
        return []

    def report_ending(self) -> str | None:
        return None


class Pretrain(Binary):
    name = "pretrain"
    resume_flag = True
    training_trigger = f"Epoch 2/{PRETRAIN_STEPS // CHECKPOINT_EVERY}"

    def command(self, out):
        return [_binary("pretrain"), f"--labelled_data={self.h.data}",
                "--labelled_splits=train", f"--output_dir={out}",
                f"--steps={PRETRAIN_STEPS}", f"--checkpoint_every={CHECKPOINT_EVERY}",
                "--warmup_steps=1", "--batch_size=8", "--vocabulary_size=200",
                "--validation_documents=8", *TINY_MODEL, "--seed=0", "--noprogress"]

    def before_rerun(self, trial):
        state = newest_sound_checkpoint(self.run_dir(trial) / "backup")
        return {"checkpoint_step": 0 if state is None else state["step"]}

    def rerun_is_full(self, state):
        return state["checkpoint_step"] == 0

    def check(self, trial, state, rerun_log, ledger):
        out, ref = self.run_dir(trial), self.run_dir(self.h.reference("pretrain").directory)
        metrics = json.loads((out / "metrics.json").read_text())
        problems = []
        if metrics.get("steps") != PRETRAIN_STEPS:
            problems.append(f"metrics.json steps {metrics.get('steps')} != {PRETRAIN_STEPS}")
        if metrics.get("resumed_from_step") != state["checkpoint_step"]:
            problems.append(f"resumed_from_step {metrics.get('resumed_from_step')}, but the "
                            f"newest sound checkpoint was at step {state['checkpoint_step']}")
        difference = weights_difference(out / "backbone" / "model.weights.h5",
                                        ref / "backbone" / "model.weights.h5")
        if difference:
            problems.append(f"final backbone weights differ from the uninterrupted run's: {difference}")
        vocab = Path("backbone/assets/tokenizer/vocabulary.txt")
        if (out / vocab).read_bytes() != (ref / vocab).read_bytes():
            problems.append("the backbone's vocabulary differs from the uninterrupted run's")
        return problems


class Finetune(Binary):
    name = "finetune"
    resume_flag = True
    training_trigger = f"Epoch 2/{FINETUNE_EPOCHS}"

    def command(self, out):
        backbone = self.run_dir(self.h.reference("pretrain").directory) / "backbone"
        d = self.h.data
        return [_binary("finetune"), "--head=sentiment", f"--backbone={backbone}",
                f"--train={d / 'train.jsonl'}", f"--validation={d / 'validation.jsonl'}",
                f"--test={d / 'test.jsonl'}", f"--output_dir={out}", "--sequence_length=16",
                f"--epochs={FINETUNE_EPOCHS}", "--batch_size=8", "--learning_rate=1e-3",
                "--patience=100", "--monitor=accuracy", "--seed=0", "--noprogress"]

    def before_rerun(self, trial):
        state = newest_sound_checkpoint(self.run_dir(trial) / "backup")
        return {"checkpoint_epoch": 0 if state is None else int(state["epoch"]),
                "checkpoint_step": 0 if state is None else state["step"]}

    def rerun_is_full(self, state):
        return state["checkpoint_epoch"] == 0

    def check(self, trial, state, rerun_log, ledger):
        out = self.run_dir(trial)
        metrics = json.loads((out / "metrics.json").read_text())
        history = json.loads((out / "history.json").read_text())
        problems = []
        if metrics.get("resumed_from_epoch") != state["checkpoint_epoch"]:
            problems.append(f"resumed_from_epoch {metrics.get('resumed_from_epoch')}, but the "
                            f"newest sound checkpoint was after epoch {state['checkpoint_epoch']}")
        if metrics.get("epochs_run") != FINETUNE_EPOCHS:
            problems.append(f"epochs_run {metrics.get('epochs_run')} != {FINETUNE_EPOCHS}")
        if len(history.get("loss", [])) != FINETUNE_EPOCHS:
            problems.append(f"history.json has {len(history.get('loss', []))} epochs, "
                            f"not {FINETUNE_EPOCHS}")
        # The step counter went on from the checkpoint's: the last checkpoint
        # is after the last epoch, at the uninterrupted run's final step.
        final = newest_sound_checkpoint(out / "backup")
        ref = newest_sound_checkpoint(self.run_dir(self.h.reference("finetune").directory) / "backup")
        if final is None or int(final["epoch"]) != FINETUNE_EPOCHS:
            problems.append(f"the last checkpoint is not after epoch {FINETUNE_EPOCHS}: "
                            f"{None if final is None else final.get('epoch')}")
        elif final["step"] != ref["step"]:
            problems.append(f"the step counter ends at {final['step']} (resumed at "
                            f"{state['checkpoint_step']}), the uninterrupted run's at {ref['step']}")
        return problems


class Export(Binary):
    """Exports into a root that already holds two versions; --keep=2 prunes
    one every run, so a kill can also land mid-prune."""

    name = "export"
    MODEL = "sentiment"

    def run_dir(self, trial):
        return trial / "saved_models"

    def command(self, out):
        model = self.h.reference("finetune").directory / "run"
        return [_binary("export"), f"--model={model}", f"--export_dir={out}",
                f"--name={self.MODEL}", "--keep=2"]

    def make_reference(self):
        directory = self.h.workdir / "reference" / self.name
        directory.mkdir(parents=True)
        outcome = run(self.command(self.run_dir(directory)), directory / "run.log")
        if outcome.returncode != 0:
            raise RuntimeError(f"The reference export failed:\n{tail(outcome.log, 30)}")
        # Two versions to start every trial from (so --keep=2 prunes one).
        model_dir = self.run_dir(directory) / self.MODEL
        shutil.copytree(model_dir / "1", model_dir / "2")
        versions = VersionLedger.versions([model_dir])
        if [v.name for v in versions] != ["1", "2"]:
            raise RuntimeError(f"The reference export made {versions}")
        problem = verify_version(versions[0], directory / "verify.log")
        if problem:
            raise RuntimeError(problem)
        return Reference(outcome.seconds, directory)

    def setup(self, trial):
        if trial == self.h.workdir / "reference" / self.name:
            return
        source = self.run_dir(self.h.reference("export").directory)
        target = self.run_dir(trial)
        shutil.copytree(source, target)
        config = (target / "models.config").read_text()
        (target / "models.config").write_text(config.replace(str(source), str(target)))

    def rerun_is_full(self, state):
        return True

    def trust_initial(self, trial, ledger):
        ledger.trust([self.run_dir(trial) / self.MODEL])

    def _check(self, trial, ledger, label):
        root = self.run_dir(trial)
        problems = ledger.check([root / self.MODEL], label)
        problems += models_config_problems(root)
        return problems

    def after_kill(self, trial, ledger):
        return self._check(trial, ledger, "kill")

    def check(self, trial, state, rerun_log, ledger):
        root = self.run_dir(trial)
        problems = self._check(trial, ledger, "rerun")
        problems += [f"temporary left after the rerun: {t}" for t in temporaries(root)]
        if not (root / "models.config").is_file():
            problems.append("models.config is missing")
        versions = VersionLedger.versions([root / self.MODEL])
        if len(versions) != 2:
            problems.append(f"--keep=2 but {len(versions)} versions: {[v.name for v in versions]}")
        return problems


class Experiment(Binary):
    """Baseline + scratch, one seed, with the serving measurement (an export)."""

    name = "experiment"
    RUN_RECORD = "experiment_run.json"
    REUSE_LINE = re.compile(r"Reusing the .+? in (\S+)\.$")

    def command(self, out):
        return [_binary("experiment"), "--head=sentiment", f"--data_dir={self.h.data}",
                "--regimes=baseline,scratch", "--seeds=0", "--metric=accuracy",
                "--vocabulary_size=60", *TINY_MODEL, "--epochs=2", "--batch_size=8",
                "--learning_rate=1e-3", "--monitor=accuracy", f"--output_dir={out}",
                "--noprogress"]

    def report_ending(self):
        return "`results.json`."

    def ledger(self, trial):
        ref = self.run_dir(self.h.reference("experiment").directory) / "serving"
        (version,) = VersionLedger.versions([p for p in ref.iterdir() if p.is_dir()])
        return VersionLedger(trial, expected=set(tree(version)))

    def _serving_dirs(self, trial):
        serving = self.run_dir(trial) / "serving"
        return [p for p in serving.iterdir() if p.is_dir()] if serving.is_dir() else []

    def after_kill(self, trial, ledger):
        return ledger.check(self._serving_dirs(trial), "kill")

    def before_rerun(self, trial):
        records = []
        for dirpath, _, filenames in os.walk(self.run_dir(trial)):
            if self.RUN_RECORD in filenames and not _skipped(Path(dirpath).parts):
                records.append(os.path.realpath(dirpath))
        return {"records": sorted(records)}

    def rerun_is_full(self, state):
        return not state["records"]

    def check(self, trial, state, rerun_log, ledger):
        out = self.run_dir(trial)
        problems = []
        results = json.loads((out / "results.json").read_text())
        json.loads((out / "config.json").read_text())
        if sorted(results.get("regimes", {})) != ["baseline", "scratch"]:
            problems.append(f"results.json regimes {sorted(results.get('regimes', {}))}")
        report = (out / "report.md").read_text()
        for heading in ("## Verdict", "## Results", "## Cost"):
            if heading not in report:
                problems.append(f"report.md has no {heading}")
        with open(rerun_log, errors="replace") as f:
            reused = sorted(os.path.realpath(m.group(1)) for line in f
                            if (m := self.REUSE_LINE.search(line.rstrip())))
        if reused != state["records"]:
            problems.append(f"finished runs {state['records']} but the rerun reused {reused}")
        problems += ledger.check(self._serving_dirs(trial), "rerun")
        problems += models_config_problems(out / "serving")
        return problems


BINARIES = {cls.name: cls for cls in (Pretrain, Finetune, Export, Experiment)}


# --------------------------------------------------------------------------
# The harness


@dataclasses.dataclass
class Trial:
    binary: str
    index: int
    fraction: float = 0.0  # seeded: the kill moment's share of the run time
    kill_at: float = 0.0
    killed: bool = False
    first_exit: int | None = None
    rerun_exit: int | None = None
    seconds: float = 0.0
    lost: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    state: dict = dataclasses.field(default_factory=dict)
    directory: str = ""
    killed_during: str = ""  # the killed run's last output line


class Harness:
    def __init__(self, workdir: Path, seed: int, parallel: int, kill_window: float = 0.0,
                 quiet: bool = False, kill_range: tuple[float, float] = (0.0, 1.0),
                 mid_training: float = 0.0):
        self.kill_range = kill_range
        self.mid_training = mid_training
        self.workdir = workdir
        self.seed = seed
        self.parallel = parallel
        self.kill_window = kill_window
        self.quiet = quiet
        self.data = workdir / "data"
        self._references: dict[str, concurrent.futures.Future] = {}
        self._durations: dict[str, float] = {}
        self._lock = threading.Lock()

    def log(self, message: str) -> None:
        if not self.quiet:
            with self._lock:
                print(message, flush=True)

    def reference(self, name: str) -> Reference:
        return self._references[name].result()

    def duration(self, name: str) -> float:
        """The binary's uninterrupted run time: the reference's, or that of the
        last trial run that had nothing to resume and was not killed (the
        machine's load varies)."""
        with self._lock:
            if name not in self._durations:
                self._durations[name] = self.reference(name).seconds
            return self._durations[name]

    def measured(self, name: str, seconds: float) -> None:
        with self._lock:
            self._durations[name] = seconds

    def prepare(self) -> None:
        if self.workdir.exists():
            if any(self.workdir.iterdir()) and not (self.workdir / MARKER).exists():
                raise SystemExit(f"{self.workdir} is not empty and not a faults workdir; "
                                 "pass another --workdir")
            shutil.rmtree(self.workdir)
        self.data.mkdir(parents=True)
        (self.workdir / MARKER).write_text("made by benchmarks/faults.py; deleted on its next run\n")
        rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [
            {"text": t, "label": "negative"} for t in NEGATIVE]
        for split in ("train", "validation", "test"):
            (self.data / f"{split}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows * 3))

    def _make_reference(self, name: str) -> Reference:
        start = time.monotonic()
        ref = BINARIES[name](self).make_reference()
        self.log(f"reference {name}: {ref.seconds:.1f}s (ready after {time.monotonic() - start:.0f}s)")
        return ref

    def trial(self, name: str, index: int) -> Trial:
        binary = BINARIES[name](self)
        result = Trial(name, index)
        if not self.kill_window:  # the kill window is the reference's duration
            try:
                self.reference(name)  # waited for outside the trial's time
            except Exception as e:  # noqa: BLE001
                result.lost.append(f"no reference run: {e}")
                return result
        started = time.monotonic()
        try:
            self._trial(binary, result)
        except Exception:  # noqa: BLE001 - a check that crashes is a loss to look at
            result.lost.append("check failed: " + traceback.format_exc(limit=3).strip()[-1500:])
        result.seconds = time.monotonic() - started
        status = "ok" if not result.lost else "LOST: " + " | ".join(result.lost)
        self.log(f"[{name} {index:02d}] kill at {result.kill_at:5.1f}s "
                 f"({'landed' if result.killed else f'finished first, exit {result.first_exit}'}), "
                 f"{result.seconds:4.0f}s: {status}")
        return result

    def _trial(self, binary: Binary, result: Trial) -> None:
        name, index = binary.name, result.index
        # Deterministic per trial, whatever the scheduling.
        key = hashlib.sha256(f"{self.seed}:{name}:{index}".encode()).digest()
        rng = random.Random(int.from_bytes(key[:8], "big"))
        low, high = self.kill_range
        result.fraction = low + (high - low) * rng.random()
        trigger = binary.training_trigger if self.mid_training else None
        if trigger:
            result.kill_at = result.fraction * self.mid_training
        else:
            result.kill_at = result.fraction * (self.kill_window or self.duration(name))
        trial = self.workdir / name / f"trial-{index:02d}"
        trial.mkdir(parents=True)
        result.directory = str(trial)
        ledger = binary.ledger(trial)
        binary.setup(trial)
        if isinstance(binary, Export):
            binary.trust_initial(trial, ledger)
        first = run_and_kill(binary.command(binary.run_dir(trial)), trial / "killed.log",
                             result.kill_at, trigger)
        result.killed, result.first_exit = first.killed, first.returncode
        if not first.killed and first.returncode == 0:
            self.measured(name, first.seconds)
        result.killed_during = tail(first.log, 1).strip()[-160:]
        if not first.killed and first.returncode != 0:
            result.lost.append(f"the uninterrupted first run failed (exit {first.returncode}): "
                               f"{tail(first.log, 3).strip()}")

        scan = scan_artifacts(binary.run_dir(trial), binary.report_ending())
        result.lost += [f"after the kill: {p}" for p in scan.lost]
        result.lost += [f"after the kill: {p}" for p in binary.after_kill(trial, ledger)]
        result.state = binary.before_rerun(trial)

        rerun_log = trial / "rerun.log"
        second = run(binary.rerun_command(trial), rerun_log)
        result.rerun_exit = second.returncode
        if second.returncode == 0 and binary.rerun_is_full(result.state):
            self.measured(name, second.seconds)
        if second.returncode != 0:
            result.lost.append(f"the rerun failed (exit {second.returncode}): "
                               f"{tail(second.log, 6).strip()}")
            return
        scan = scan_artifacts(binary.run_dir(trial), binary.report_ending())
        result.lost += [f"after the rerun: {p}" for p in scan.lost]
        result.notes += [f"after the rerun: {n}" for n in scan.notes]
        result.lost += binary.check(trial, result.state, str(rerun_log), ledger)

    def run(self, binaries: list[str], trials: int) -> list[Trial]:
        self.prepare()
        needed = set(binaries)
        if "export" in needed:
            needed.add("finetune")
        if "finetune" in needed:
            needed.add("pretrain")
        order = [b for b in ("pretrain", "experiment", "finetune", "export") if b in needed]
        with concurrent.futures.ThreadPoolExecutor(self.parallel) as pool:
            # References first (FIFO: a job only waits on earlier ones), then
            # the trials, binaries interleaved.
            for name in order:
                self._references[name] = pool.submit(self._make_reference, name)
            jobs = [pool.submit(self.trial, name, i) for i in range(trials) for name in binaries]
            results = [job.result() for job in jobs]
            # A kill timed after the run had ended injected no fault: top up
            # until every binary has `trials` landed kills (at most 2x trials).
            issued = {name: trials for name in binaries}
            while True:
                more = []
                for name in binaries:
                    landed = sum(r.killed for r in results if r.binary == name)
                    missing = min(trials - landed, 2 * trials - issued[name])
                    more += [(name, issued[name] + i) for i in range(max(0, missing))]
                    issued[name] += max(0, missing)
                if not more:
                    break
                results += [job.result() for job in
                            [pool.submit(self.trial, name, i) for name, i in more]]
        return results


def summarize(results: list[Trial], binaries: list[str]) -> list[dict]:
    rows = []
    for name in binaries:
        mine = [r for r in results if r.binary == name]
        rows.append({
            "binary": f"kerasft-{name}", "trials": len(mine),
            "faults_injected": sum(r.killed for r in mine),
            "survived": sum(not r.lost for r in mine),
            "lost": sum(bool(r.lost) for r in mine),
            "seconds": round(sum(r.seconds for r in mine), 1),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    header = ("binary", "trials", "faults injected", "survived", "lost", "seconds")
    keys = ("binary", "trials", "faults_injected", "survived", "lost", "seconds")
    cells = [header] + [tuple(str(row[k]) for k in keys) for row in rows]
    total = ("total", *(str(sum(row[k] for row in rows)) for k in keys[1:-1]),
             f"{sum(row['seconds'] for row in rows):.1f}")
    cells.append(total)
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i])
                               for i in range(len(header))) + " |" for c in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def finetune_resume_available() -> bool:
    source = (REPO / "kerasft" / "cli" / "finetune.py").read_text()
    return '"resume"' in source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20,
                        help="Landed kills per binary: trials whose kill came after the "
                             "run had ended are topped up (at most twice this many trials).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    parser.add_argument("--binaries", default=",".join(ALL_BINARIES),
                        help="Comma-separated subset of " + ",".join(ALL_BINARIES))
    parser.add_argument("--workdir", default=str(REPO / "runs" / "faults"),
                        help="Scratch directory (emptied first); faults.json goes here.")
    parser.add_argument("--parallel", type=int, default=2, help="Concurrent trials.")
    parser.add_argument("--kill_window", type=float, default=0.0,
                        help="Kill within this many seconds (0: the reference run's duration).")
    parser.add_argument("--kill_range", default="0,1",
                        help="LOW,HIGH: kill at a fraction of the run in this range "
                             "(e.g. 0.8,1 to aim at the final writes).")
    parser.add_argument("--mid_training", type=float, default=0.0,
                        help="SECONDS: kill pretrain and finetune within this long after "
                             "their second epoch starts (after the first checkpoint: "
                             "resume from mid-training), instead of anywhere in the run.")
    args = parser.parse_args(argv)
    kill_range = tuple(float(x) for x in args.kill_range.split(","))
    if len(kill_range) != 2 or not 0 <= kill_range[0] <= kill_range[1]:
        parser.error(f"--kill_range must be LOW,HIGH with 0 <= LOW <= HIGH: {args.kill_range}")
    binaries = [b.strip() for b in args.binaries.split(",") if b.strip()]
    unknown = sorted(set(binaries) - set(ALL_BINARIES))
    if unknown:
        parser.error(f"unknown binaries {unknown}; choose from {list(ALL_BINARIES)}")
    if "finetune" in binaries and not finetune_resume_available():
        print("kerasft-finetune has no --resume yet: skipping its trials.", flush=True)
        binaries.remove("finetune")
    workdir = Path(args.workdir).resolve()
    start = time.monotonic()
    harness = Harness(workdir, args.seed, args.parallel, args.kill_window,
                      kill_range=kill_range, mid_training=args.mid_training)
    results = harness.run(binaries, args.trials)
    wall = time.monotonic() - start
    rows = summarize(results, binaries)
    table = format_table(rows)
    lost = [r for r in results if r.lost]
    for r in lost:
        print(f"\nLOST: kerasft-{r.binary} trial {r.index} (kill at {r.kill_at:.2f}s, "
              f"{'landed' if r.killed else 'did not land'}; {r.directory}):")
        for problem in r.lost:
            print(f"  - {problem}")
    noted = [r for r in results if r.notes]
    if noted:
        print(f"\nNotes (not losses) in {len(noted)} trials:")
        for r in noted[:8]:
            print(f"  kerasft-{r.binary} trial {r.index}: " + "; ".join(r.notes[:3]))
    print(f"\nFault harness: seed {args.seed}, {args.trials} trials each, "
          f"{args.parallel} workers, {wall / 60:.1f} min wall\n{table}")
    (workdir / "faults.json").write_text(json.dumps({
        "seed": args.seed, "trials": args.trials, "parallel": args.parallel,
        "wall_seconds": round(wall, 1), "table": rows,
        "references": {n: round(f.result().seconds, 2) for n, f in harness._references.items()},
        "results": [dataclasses.asdict(r) for r in results],
    }, indent=2))
    print(f"Wrote {workdir / 'faults.json'}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
