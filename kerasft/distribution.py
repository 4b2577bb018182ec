"""Which `tf.distribute` strategy training runs under: default, mirrored or multi-worker.

kerasft runs on TensorFlow's own distributed engine. A binary's
`--distribution` picks the strategy once (`make_strategy`) and installs it
for the run (`use_strategy`); the training code asks `current_strategy()`
and builds its model and optimizer in that strategy's scope. Keras `fit`
then splits every global batch across the replicas.

Why not enter `strategy.scope()` around the whole run: tokenizer resources
(the SentencePiece model) must be made outside it, or the `tf.data`
pipeline's ops cannot find them.

| `--distribution` | strategy | devices |
| --- | --- | --- |
| `default` | TensorFlow's default strategy | one device |
| `mirrored` | `MirroredStrategy` | every local GPU (or the CPU) |
| `multi_worker` | `MultiWorkerMirroredStrategy` | the hosts of `TF_CONFIG` |

`--batch_size` is always the global batch: each replica gets
`batch_size / num_replicas_in_sync` examples a step. Keras `fit` shards the
input across workers by data (`tf.data`'s AUTO policy falls back to DATA:
every worker reads the pipeline and keeps its own part of each global
batch), so each worker trains on different examples and masking stays a
pure function of (seed, step). Every worker runs the same code, saves
included (reading synchronized variables is a collective step), but only
the chief writes the run directory: the others write to temporary
directories that are removed (`worker_output_dir`), as in TensorFlow's
multi-worker guide; on resume every worker reads the chief's checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

import tensorflow as tf

from kerasft.atomic_files import pid_alive

DISTRIBUTIONS = ("default", "mirrored", "multi_worker")

_installed: list[tf.distribute.Strategy] = []


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy of a `--distribution` value.

    Args:
        name: `"default"`, `"mirrored"` or `"multi_worker"` (configured from
            the `TF_CONFIG` environment variable, as on every TF cluster).

    Example:
    >>> type(make_strategy("default")).__name__
    '_DefaultDistributionStrategy'
    """
    if name not in DISTRIBUTIONS:
        raise ValueError(
            f"`distribution` must be one of {list(DISTRIBUTIONS)}. "
            f"Received: distribution={name!r}."
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if not os.environ.get("TF_CONFIG"):
        raise ValueError(
            "`distribution='multi_worker'` needs the TF_CONFIG environment "
            "variable (the cluster and this worker's task), e.g. "
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\'. Received: TF_CONFIG unset.'
        )
    try:
        json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as e:
        raise ValueError(
            f"TF_CONFIG must be JSON. Received: {os.environ['TF_CONFIG'][:200]!r} ({e.msg})."
        ) from None
    return tf.distribute.MultiWorkerMirroredStrategy()


@contextlib.contextmanager
def use_strategy(strategy: tf.distribute.Strategy) -> Iterator[tf.distribute.Strategy]:
    """Make `strategy` the one `current_strategy()` returns inside the block.

    Example:
    >>> with use_strategy(make_strategy("default")) as strategy:
    ...     current_strategy() is strategy
    True
    """
    if strategy is not tf.distribute.get_strategy():
        from kerasft.compat import patch_keras_20585

        patch_keras_20585()  # Keras `fit` under a real strategy needs it
    _installed.append(strategy)
    try:
        yield strategy
    finally:
        _installed.pop()


def current_strategy() -> tf.distribute.Strategy:
    """The installed strategy (`use_strategy`), else TensorFlow's current one.

    Example:
    >>> current_strategy().num_replicas_in_sync
    1
    """
    return _installed[-1] if _installed else tf.distribute.get_strategy()


def _task(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this worker writes the run directory (worker 0, or a chief task).

    Example:
    >>> is_chief()
    True
    """
    strategy = strategy or current_strategy()
    task_type, task_id = _task(strategy)
    if task_type is None:
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and task_id == 0


def distribution_record(global_batch_size: int, strategy=None) -> dict:
    """What `config.json` and `metrics.json` record of the distribution.

    Args:
        global_batch_size: examples a step over all replicas (`--batch_size`).
        strategy: defaults to `current_strategy()`.

    Example:
    >>> distribution_record(32)["per_replica_batch_size"]
    32
    """
    strategy = strategy or current_strategy()
    replicas = int(strategy.num_replicas_in_sync)
    if global_batch_size % replicas:
        raise ValueError(
            f"`batch_size` is the global batch and must be a multiple of the "
            f"{replicas} replicas in sync. Received: batch_size={global_batch_size}. "
            f"Use e.g. batch_size={replicas * max(1, global_batch_size // replicas)}."
        )
    task_type, task_id = _task(strategy)
    workers = 1
    if task_type is not None:
        cluster = strategy.cluster_resolver.cluster_spec().as_dict()
        workers = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
    return {
        "distribution_strategy": type(strategy).__name__,
        "num_replicas_in_sync": replicas,
        "global_batch_size": int(global_batch_size),
        "per_replica_batch_size": int(global_batch_size) // replicas,
        "num_workers": workers,
        "task_type": task_type,
        "task_id": task_id,
    }


_WORKER_PREFIX = "kerasft-worker-"


def _remove_dead_workers_dirs() -> None:
    # A worker killed with SIGKILL cannot remove its directory: the next
    # worker on this host does (only those whose process is gone).
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        parts = name[len(_WORKER_PREFIX):].split("-")
        if (name.startswith(_WORKER_PREFIX) and len(parts) == 3 and parts[1].isdigit()
                and not pid_alive(int(parts[1]))):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


@contextlib.contextmanager
def worker_output_dir(run_dir: str, strategy=None) -> Iterator[str]:
    """Where this worker writes the run: `run_dir` on the chief, else a
    temporary directory removed at the end (every worker runs the same
    code, but only the chief's files are kept).

    Example:
    >>> with worker_output_dir("runs/x") as out:
    ...     out
    'runs/x'
    """
    strategy = strategy or current_strategy()
    if is_chief(strategy):
        yield run_dir
        return
    _remove_dead_workers_dirs()
    _, task_id = _task(strategy)
    tmp = tempfile.mkdtemp(prefix=f"{_WORKER_PREFIX}{task_id}-{os.getpid()}-")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def loopback_tf_configs(workers: int) -> list[str]:
    """`TF_CONFIG` values of a `workers`-process cluster on 127.0.0.1 (free
    ports), one a worker: to try `multi_worker` on one machine.

    Example:
    >>> [json.loads(c)["task"] for c in loopback_tf_configs(2)]
    [{'type': 'worker', 'index': 0}, {'type': 'worker', 'index': 1}]
    """
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    finally:
        for s in sockets:
            s.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(workers)]
