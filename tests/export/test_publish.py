"""Tests for publishing an export archive as a numbered SavedModel version."""

import keras
import pytest
import tensorflow as tf

from kerasft.export import publish
from kerasft.export.warmup import warmup_file

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]


def publish_tiny(export_root, build, name="tiny"):
    return publish.publish_archive(
        export_root, name, build,
        signatures=["serving_default"], warmup_texts=["a", ""], verify=False,
    )


def tiny_archive():
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serving_default",
        lambda text: {"length": tf.strings.length(text)},
        input_signature=[publish.TEXT_SPEC],
    )
    return archive, VOCAB


def test_publish_archive_writes_assets_and_warmup_then_models_config(tmp_path):
    path, report = publish_tiny(tmp_path, tiny_archive)
    assert path == tmp_path / "tiny" / "1" and report is None
    assert (path / "assets" / "vocab.txt").read_text().split("\n")[:-1] == VOCAB
    assert warmup_file(path).is_file()
    assert (tmp_path / "models.config").is_file()
    loaded = tf.saved_model.load(str(path))
    lengths = loaded.signatures["serving_default"](text=tf.constant(["ab"]))["length"]
    assert lengths.numpy().tolist() == [2]


def test_publish_archive_validates_the_name_before_building(tmp_path):
    def build():
        raise AssertionError("built before the name was checked")

    with pytest.raises(ValueError, match="`name` must be a plain directory name"):
        publish_tiny(tmp_path, build, name="1")


def test_failed_build_publishes_nothing(tmp_path):
    def build():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        publish_tiny(tmp_path, build)
    assert list((tmp_path / "tiny").iterdir()) == []
    assert not (tmp_path / "models.config").exists()
