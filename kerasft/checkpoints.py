"""Resume checkpoints of training runs: complete or absent, and checked on resume.

`run_dir/backup/step-NNNNNNNN/` holds the weights with optimizer state and
`state.json` (step, epoch, dropout and sampling RNG, the history so far, the
run's own state, the weights' SHA-256). Each is written under a temporary
name and renamed, so one that exists is complete; the newest two are kept,
and on resume a damaged newest one (truncated, altered, half-deleted) is
reported in one line and the one before it is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
from absl import logging

from kerasft import atomic_files, compat

_STATE_FILE = "state.json"
_BACKUP_WEIGHTS = "masked_lm.weights.h5"


def _seed_generator_states(model: keras.Model) -> list:
    """The dropout / sampling RNG state variables (not part of `save_weights`)."""
    return compat.seed_generator_states(model)


def extend_history(history: dict, epochs: Mapping[str, Sequence]) -> None:
    """Append per-epoch values to `history`, keeping every key's list aligned.

    A key missing from `epochs` (a figure one training phase does not have)
    gets `None` for those epochs, and a new key `None` for the epochs before.

    Example:
    >>> h = {"loss": [2.0]}
    >>> extend_history(h, {"loss": [1.5], "rtd": [0.3]})
    >>> h
    {'loss': [2.0, 1.5], 'rtd': [None, 0.3]}
    """
    done = max((len(v) for v in history.values()), default=0)
    added = max((len(v) for v in epochs.values()), default=0)
    for key in set(history) | set(epochs):
        values = [None if v is None else float(v) for v in epochs.get(key, [None] * added)]
        history.setdefault(key, [None] * done).extend(values)


class Checkpointer(keras.callbacks.Callback):
    """A resume checkpoint at every epoch end: weights, optimizer, step, RNG.

    Also the per-epoch history so far (so a resumed run's history covers the
    epochs before the interruption) and what the run adds: `extra_state()`
    (JSON values) and `arrays()` (named lists of numpy arrays).

    Args:
        directory: the run's backup directory.
        extra_state: returns the run's own JSON state at each save.
        history: the history of the checkpoint resumed from.
        arrays: returns `{name: [array, ...]}` to save beside the weights.

    Example:
    >>> model.fit(ds, epochs=3, callbacks=[Checkpointer("runs/x/backup")])  # doctest: +SKIP
    """

    def __init__(self, directory: str, extra_state: Callable[[], dict] = dict,
                 history: dict | None = None,
                 arrays: Callable[[], dict] | None = None):
        super().__init__()
        self.directory = directory
        self.extra_state = extra_state
        self.arrays = arrays
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        extend_history(self.history, {k: [v] for k, v in (logs or {}).items()})
        extra = dict(self.extra_state(), history=self.history)
        save_state(self.model, self.directory, epoch + 1, extra,
                   arrays=self.arrays() if self.arrays else None)


class EpochWeights(keras.callbacks.Callback):
    """The weights at every epoch end, `pattern.format(epoch=N)`, written atomically.

    Keras's `ModelCheckpoint` writes in place, so a kill mid-write leaves a
    truncated file under the final name; this writes a temporary and renames.

    Example:
    >>> cb = EpochWeights("runs/x/checkpoints/epoch-{epoch:02d}.weights.h5")
    """

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern

    def on_epoch_end(self, epoch, logs=None):
        path = self.pattern.format(epoch=epoch + 1)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with atomic_files.atomic_path(path) as tmp:
            self.model.save_weights(tmp)


# The newest checkpoint and the one before it: if the newest is damaged (a
# kill or a full disk during its write), resume falls back to the previous.
KEEP_CHECKPOINTS = 2
_CHECKPOINT_PREFIX = "step-"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One resume checkpoint: its directory and its `state.json`."""

    path: str
    state: dict

    def arrays(self, name: str) -> list[np.ndarray] | None:
        """The arrays saved as `name` (`save_state(arrays=...)`), or None."""
        path = os.path.join(self.path, f"{name}.npz")
        if not os.path.isfile(path):
            return None
        with np.load(path) as saved:
            return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def weights_fingerprint(model: keras.Model) -> str:
    """SHA-256 of every weight's bytes, in order: equal iff the weights are.

    Example:
    >>> layer = keras.layers.Dense(2, kernel_initializer="ones")
    >>> layer.build((None, 3))
    >>> weights_fingerprint(layer)[:12]
    '998819a2ca07'
    """
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_state(model, directory: str, epoch: int, extra: dict,
               arrays: Mapping[str, Sequence[np.ndarray]] | None = None) -> str:
    """Write the resume state of a compiled pretraining model; return its directory.

    Each checkpoint is a directory `step-NNNNNNNN/` (weights with optimizer
    state, and `state.json` with the step, epoch, RNG and the weights'
    SHA-256; `arrays` as `NAME.npz`), written under a temporary name and
    renamed, so a checkpoint that exists is complete; the newest
    `KEEP_CHECKPOINTS` are kept.
    """
    os.makedirs(directory, exist_ok=True)
    step = int(model.optimizer.iterations.numpy())
    target = os.path.join(directory, f"{_CHECKPOINT_PREFIX}{step:08d}")
    tmp = atomic_files.temporary_name(target)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        weights = os.path.join(tmp, _BACKUP_WEIGHTS)
        model.save_weights(weights)
        for name, values in (arrays or {}).items():
            np.savez(os.path.join(tmp, f"{name}.npz"), *values)
        state = dict(extra)
        state.update(
            {
                "step": step,
                "epoch": epoch,
                "rng": [np.asarray(s.numpy()).tolist()
                        for s in _seed_generator_states(model)],
                "weights_sha256": _sha256(weights),
            }
        )
        atomic_files.write_json(os.path.join(tmp, _STATE_FILE), state, indent=None)
        if os.path.exists(target):  # the same step saved again: same content
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in _checkpoint_dirs(directory)[KEEP_CHECKPOINTS:]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _checkpoint_dirs(directory: str) -> list[str]:
    """The checkpoint directories in `directory`, newest first."""
    if not os.path.isdir(directory):
        return []
    names = [n for n in os.listdir(directory)
             if n.startswith(_CHECKPOINT_PREFIX) and n[len(_CHECKPOINT_PREFIX):].isdigit()]
    return [os.path.join(directory, n) for n in sorted(names, reverse=True)]


def _damage(path: str) -> tuple[dict | None, str | None]:
    """`(state, None)` for a sound checkpoint, `(None, what is wrong)` otherwise."""
    state_path = os.path.join(path, _STATE_FILE)
    weights = os.path.join(path, _BACKUP_WEIGHTS)
    try:
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError) as e:
        return None, f"{_STATE_FILE} unreadable ({type(e).__name__})"
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        return None, f"{_STATE_FILE} has no step"
    if not os.path.isfile(weights):
        return None, f"{_BACKUP_WEIGHTS} is missing"
    expected = state.get("weights_sha256")
    if expected is not None and _sha256(weights) != expected:
        return None, f"{_BACKUP_WEIGHTS} does not match its SHA-256"
    return state, None


def latest_checkpoint(directory: str) -> Checkpoint | None:
    """The newest sound checkpoint in `directory` (a damaged one is skipped
    with a warning), or None if there is none."""
    candidates = _checkpoint_dirs(directory)
    if os.path.isfile(os.path.join(directory, _STATE_FILE)):
        candidates.append(directory)  # the single-checkpoint layout of earlier versions
    for path in candidates:
        state, damage = _damage(path)
        if state is not None:
            return Checkpoint(path, state)
        logging.warning("Checkpoint %s is damaged (%s); trying the one before it.",
                        path, damage)
    return None


def restore_state(model, path: str, state: dict) -> None:
    """Load weights, optimizer state and RNG of the checkpoint at `path`."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(path, _BACKUP_WEIGHTS))
    for variable, value in zip(_seed_generator_states(model), state["rng"]):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    if int(model.optimizer.iterations.numpy()) != state["step"]:
        raise ValueError(
            f"The checkpoint in {path} is inconsistent: its optimizer is "
            f"at step {int(model.optimizer.iterations.numpy())}, its state "
            f"file says {state['step']}. Delete {os.path.dirname(path)} to start over."
        )
