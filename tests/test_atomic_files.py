"""`kerasft.atomic_files`: the old complete file or the new one, never a partial one."""

import errno
import json
import os

import pytest

from kerasft import atomic_files
from kerasft.atomic_files import ArtifactWriteError, atomic_path, write_json, write_text

OLD = '{\n  "accuracy": 0.5\n}'


@pytest.fixture
def previous(tmp_path):
    """A complete `metrics.json` from an earlier run."""
    path = tmp_path / "metrics.json"
    path.write_text(OLD)
    return path


def _left(directory):
    return sorted(p.name for p in directory.iterdir())


def test_write_json_replaces_the_file_in_json_dump_format(previous):
    write_json(previous, {"accuracy": 0.75, "labels": ["a", "b"]})
    assert previous.read_text() == json.dumps(
        {"accuracy": 0.75, "labels": ["a", "b"]}, indent=2
    )
    assert _left(previous.parent) == ["metrics.json"]


def test_the_temporary_is_beside_the_target_with_its_extension(tmp_path):
    with atomic_path(tmp_path / "model.keras") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert tmp.endswith(".keras") and os.path.basename(tmp).startswith(".tmp-")
        open(tmp, "w").write("new")
    assert (tmp_path / "model.keras").read_text() == "new"


def test_an_exception_mid_write_leaves_the_old_file(previous):
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(previous) as tmp:
            with open(tmp, "w") as f:
                f.write('{"accur')  # half a file
            raise RuntimeError("killed")
    assert previous.read_text() == OLD
    assert _left(previous.parent) == ["metrics.json"]


def test_an_unserialisable_value_writes_nothing(previous):
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json(previous, {"accuracy": object()})
    assert previous.read_text() == OLD


@pytest.mark.parametrize(
    "error, reason",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full; free some space"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied; choose a directory"),
        (OSError(errno.EROFS, "Read-only file system"), "the file system is read-only; choose another directory"),
    ],
)
def test_a_fault_inside_the_block_is_a_clear_error(previous, error, reason):
    with pytest.raises(ArtifactWriteError) as raised:
        with atomic_path(previous) as tmp:
            open(tmp, "w").write('{"accur')
            raise error
    message = str(raised.value)
    assert f"Could not write {previous}: {reason}" in message
    assert "the previous file is unchanged" in message
    assert raised.value.errno == error.errno and raised.value.__cause__ is error
    assert previous.read_text() == OLD
    assert _left(previous.parent) == ["metrics.json"]


def test_a_full_disk_during_write_text_keeps_the_old_report(tmp_path, monkeypatch):
    report = tmp_path / "report.md"
    report.write_text("# Old report\n")
    real_open = open

    class FullDisk:
        """A file that takes a few bytes, then the disk is full."""

        def __init__(self, path, *args, **kwargs):
            self.file = real_open(path, *args, **kwargs)

        def write(self, text):
            self.file.write(text[:3])
            self.file.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(atomic_files, "open", FullDisk, raising=False)
    with pytest.raises(ArtifactWriteError, match=r"report\.md: the disk is full"):
        write_text(report, "# New report\n" * 100)
    assert report.read_text() == "# Old report\n"
    assert _left(tmp_path) == ["report.md"]


def test_a_refused_rename_keeps_the_old_file_and_removes_the_temporary(previous, monkeypatch):
    def refuse(src, dst):
        assert os.path.exists(src)  # the new file was complete
        raise PermissionError(errno.EACCES, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ArtifactWriteError, match="metrics.json: permission denied"):
        write_json(previous, {"accuracy": 0.9})
    assert previous.read_text() == OLD
    assert _left(previous.parent) == ["metrics.json"]


def test_a_failed_first_write_says_no_file_was_left(tmp_path, monkeypatch):
    monkeypatch.setattr(
        os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full"))
    )
    with pytest.raises(ArtifactWriteError, match="no file was left there"):
        write_text(tmp_path / "vocab.txt", "[PAD]\n")
    assert _left(tmp_path) == []


def test_a_missing_directory_stays_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "absent" / "report.md", "x")
    assert _left(tmp_path) == []


def test_dead_processes_temporaries_are_removed_live_ones_kept(tmp_path):
    dead_file = tmp_path / ".tmp-999999999-metrics.json"
    dead_file.write_text("{")
    dead_dir = tmp_path / ".tmp-999999998-step-00000004"
    (dead_dir / "sub").mkdir(parents=True)
    live = tmp_path / f".tmp-{os.getpid()}-model.keras"
    live.write_text("writing")
    other = tmp_path / ".tmp-notes"
    other.write_text("")
    removed = atomic_files.remove_dead_temporaries(tmp_path, tmp_path / "absent")
    assert removed == [dead_dir.name, dead_file.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
