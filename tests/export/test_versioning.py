"""Tests for numbered SavedModel versions and `models.config`."""

import os

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerasft.export import versioning


def fake_saved_model(directory):
    """A stand-in for a SavedModel: enough for the layout checks."""
    (directory / "saved_model.pb").write_bytes(b"fake")
    (directory / "variables").mkdir()
    (directory / "variables" / "variables.index").write_bytes(b"index")


def numeric_and_hidden(model_dir):
    names = sorted(p.name for p in model_dir.iterdir())
    return names, [n for n in names if n.startswith(".")]


def test_list_versions_ignores_non_numeric_entries(tmp_path):
    model_dir = tmp_path / "sentiment"
    for name in ["1", "3", "10", ".tmp-4-1-ab", "notes", "0"]:
        (model_dir / name).mkdir(parents=True)
    (model_dir / "7").write_text("a file, not a version")
    assert versioning.list_versions(model_dir) == [1, 3, 10]
    assert versioning.latest_version(model_dir) == 10
    assert versioning.next_version(model_dir) == 11


def test_missing_model_dir_has_no_versions(tmp_path):
    assert versioning.list_versions(tmp_path / "nope") == []
    assert versioning.latest_version(tmp_path / "nope") is None
    assert versioning.next_version(tmp_path / "nope") == 1


def test_write_version_numbers_versions_and_leaves_no_temp_dirs(tmp_path):
    paths = [
        versioning.write_version(tmp_path, "sentiment", fake_saved_model)
        for _ in range(3)
    ]
    model_dir = tmp_path / "sentiment"
    assert paths == [model_dir / "1", model_dir / "2", model_dir / "3"]
    assert all((p / "saved_model.pb").read_bytes() == b"fake" for p in paths)
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "2", "3"]


def test_write_version_writes_into_a_hidden_sibling(tmp_path):
    versioning.write_version(tmp_path, "m", fake_saved_model)
    model_dir = tmp_path / "m"
    seen = {}

    def write_fn(directory):
        seen["dir"] = directory
        # While writing, TF Serving must not see a new version.
        seen["versions"] = versioning.list_versions(model_dir)
        assert list(directory.iterdir()) == []
        fake_saved_model(directory)

    path = versioning.write_version(tmp_path, "m", write_fn)
    assert seen["dir"].parent == model_dir
    assert seen["dir"].name.startswith(".")
    assert not seen["dir"].name.isdigit()
    assert seen["versions"] == [1]
    assert path == model_dir / "2"
    assert not seen["dir"].exists()


def test_explicit_version(tmp_path):
    path = versioning.write_version(tmp_path, "m", fake_saved_model, version=5)
    assert path == tmp_path / "m" / "5"
    assert versioning.next_version(tmp_path / "m") == 6
    with pytest.raises(ValueError, match="already exists.*next free: 6"):
        versioning.write_version(tmp_path, "m", fake_saved_model, version=5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"version": 0}, ValueError, "`version` must be a positive integer"),
        ({"version": "2"}, TypeError, "`version` must be a positive integer"),
        ({"keep": 0}, ValueError, "`keep` must be a positive integer"),
        ({"name": "a/b"}, ValueError, "`name` must be a plain directory name"),
        # --name=../x must not write beside (or above) the export root.
        ({"name": "../x"}, ValueError, "`name` must be a plain directory name"),
        ({"name": ".."}, ValueError, "`name` must be a plain directory name"),
        ({"name": ".tmp-1"}, ValueError, "`name` must be a plain directory name"),
        ({"name": "12"}, ValueError, "`name` must be a plain directory name"),
        ({"name": 3}, TypeError, "`name` must be a string"),
        ({"write_fn": "not callable"}, TypeError, "`write_fn` must be a callable"),
    ],
)
def test_write_version_rejects_bad_arguments(tmp_path, kwargs, error, match):
    args = {"name": "m", "write_fn": fake_saved_model, **kwargs}
    with pytest.raises(error, match=match):
        versioning.write_version(tmp_path / "root", **args)
    assert versioning.list_versions(tmp_path / "root" / "m") == []
    # Nothing written anywhere, above the export root included.
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_keep_deletes_older_versions_after_a_successful_write(tmp_path):
    for _ in range(4):
        versioning.write_version(tmp_path, "m", fake_saved_model, keep=2)
    assert versioning.list_versions(tmp_path / "m") == [3, 4]


def test_failed_write_keeps_all_versions_despite_keep(tmp_path):
    for _ in range(3):
        versioning.write_version(tmp_path, "m", fake_saved_model)

    def broken(directory):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        versioning.write_version(tmp_path, "m", broken, keep=1)
    names, hidden = numeric_and_hidden(tmp_path / "m")
    assert names == ["1", "2", "3"] and hidden == []


def test_write_fn_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="without writing `saved_model.pb`"):
        versioning.write_version(tmp_path, "m", lambda d: None)
    assert list((tmp_path / "m").iterdir()) == []


def test_keyboard_interrupt_removes_the_temp_dir(tmp_path):
    versioning.write_version(tmp_path, "m", fake_saved_model)

    def interrupted(directory):
        fake_saved_model(directory)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        versioning.write_version(tmp_path, "m", interrupted)
    names, hidden = numeric_and_hidden(tmp_path / "m")
    assert names == ["1"] and hidden == []


@pytest.mark.large
def test_fault_after_variables_are_written_leaves_previous_version_intact(tmp_path):
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self, value):
            super().__init__()
            self.w = tf.Variable(value)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return x * self.w

    v1 = versioning.write_version(
        tmp_path, "m", lambda d: tf.saved_model.save(Tiny(2.0), str(d))
    )
    before = {
        p.relative_to(v1): p.read_bytes() for p in v1.rglob("*") if p.is_file()
    }

    def crash_after_save(directory):
        tf.saved_model.save(Tiny(3.0), str(directory))
        assert (directory / "variables" / "variables.index").is_file()
        raise RuntimeError("crash after the variables were written")

    with pytest.raises(RuntimeError, match="crash after"):
        versioning.write_version(tmp_path, "m", crash_after_save)

    names, hidden = numeric_and_hidden(tmp_path / "m")
    assert names == ["1"] and hidden == []
    after = {p.relative_to(v1): p.read_bytes() for p in v1.rglob("*") if p.is_file()}
    assert after == before
    restored = tf.saved_model.load(str(v1))
    assert restored(tf.constant([1.5])).numpy().tolist() == [3.0]


def parse_models_config(path):
    return text_format.Parse(
        path.read_text(), model_server_config_pb2.ModelServerConfig()
    )


def test_models_config_lists_models_with_versions(tmp_path):
    versioning.write_version(tmp_path, "sentiment", fake_saved_model)
    versioning.write_version(tmp_path, "sentiment", fake_saved_model)
    versioning.write_version(tmp_path, "ner", fake_saved_model)
    (tmp_path / "empty_model").mkdir()
    (tmp_path / "README.md").write_text("export root")

    path = versioning.write_models_config(tmp_path)
    assert path == tmp_path / "models.config"
    config = parse_models_config(path)
    entries = [
        (c.name, c.base_path, c.model_platform)
        for c in config.model_config_list.config
    ]
    assert entries == [
        ("ner", str((tmp_path / "ner").resolve()), "tensorflow"),
        ("sentiment", str((tmp_path / "sentiment").resolve()), "tensorflow"),
    ]
    assert all(os.path.isabs(c.base_path) for c in config.model_config_list.config)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_models_config_with_docker_prefix_replaces_the_file(tmp_path):
    versioning.write_version(tmp_path, "sentiment", fake_saved_model)
    versioning.write_models_config(tmp_path)
    versioning.write_version(tmp_path, "style", fake_saved_model)
    config = parse_models_config(
        versioning.write_models_config(tmp_path, base_path_prefix="/models/")
    )
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
        ("sentiment", "/models/sentiment"),
        ("style", "/models/style"),
    ]


def test_models_config_without_models_is_an_error(tmp_path):
    (tmp_path / "no_versions").mkdir()
    with pytest.raises(ValueError, match="No exported model found"):
        versioning.write_models_config(tmp_path)
    assert not (tmp_path / "models.config").exists()
    with pytest.raises(ValueError, match="`export_root` must be an existing"):
        versioning.write_models_config(tmp_path / "missing")


def test_stale_temporaries_of_dead_writers_only_are_removed(tmp_path):
    import signal
    import subprocess
    import sys

    model_dir = tmp_path / "sentiment"
    model_dir.mkdir()
    host = versioning._host()
    # A real killed writer: a child that made its temporary, then SIGKILL.
    child = subprocess.Popen(
        [sys.executable, "-c", "import os, time, sys; "
         "from kerasft.export import versioning; from pathlib import Path; "
         f"p = versioning._temporary_path(Path({str(model_dir)!r}), 2); p.mkdir(); "
         "(p / 'saved_model.pb').write_bytes(b'half'); print(p.name, flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    dead = child.stdout.readline().strip()
    assert dead.startswith(f".tmp-2-{host}-{child.pid}-")
    live = versioning._temporary_path(model_dir, 3)  # this process: alive
    live.mkdir()
    other_host = model_dir / f".tmp-4-{host}x-{child.pid}-0badcafe"
    other_host.mkdir()
    unknown = model_dir / ".tmp-notes"
    unknown.mkdir()
    # Alive: nothing is removed, not even the child's.
    assert versioning.remove_stale_temporaries(model_dir) == []
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert versioning.remove_stale_temporaries(model_dir) == [dead]
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(
        [live.name, other_host.name, unknown.name])
    # An export cleans up before it writes.
    dead_again = model_dir / f".tmp-5-{host}-{child.pid}-12345678"
    dead_again.mkdir()
    versioning.write_version(tmp_path, "sentiment", fake_saved_model)
    assert not dead_again.exists() and live.exists()
    assert versioning.list_versions(model_dir) == [1]


def test_a_pruned_version_disappears_at_once_even_if_deleting_it_fails(tmp_path, monkeypatch):
    for _ in range(2):
        versioning.write_version(tmp_path, "sentiment", fake_saved_model)

    def killed_mid_delete(path, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(versioning.shutil, "rmtree", killed_mid_delete)
    with pytest.raises(KeyboardInterrupt):
        versioning.prune_versions(tmp_path / "sentiment", keep=1)
    # Version 1 was renamed out of TF Serving's sight before the delete began.
    names, hidden = numeric_and_hidden(tmp_path / "sentiment")
    assert versioning.list_versions(tmp_path / "sentiment") == [2]
    assert len(hidden) == 1 and hidden[0].startswith(".tmp-1-")


def test_models_config_removes_a_dead_writers_temporary(tmp_path):
    versioning.write_version(tmp_path, "sentiment", fake_saved_model)
    dead = tmp_path / f".tmp-models.config-{versioning._host()}-999999999-0badcafe"
    dead.write_text("half")
    versioning.write_models_config(tmp_path)
    assert not dead.exists() and (tmp_path / "models.config").is_file()
