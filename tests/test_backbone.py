"""Backbone config, building, and backbone directories (keras-hub presets)."""

import dataclasses
import json

import keras_hub
import numpy as np
import pytest

from kerasft.backbone import (
    BackboneConfig,
    backbone_config,
    build_backbone,
    load_backbone,
    save_backbone,
)
from kerasft.backbone import BackboneSize, check_choices, option, override_fields


def _features(preprocessor):
    return preprocessor(["the film is good", "a bad movie !"])


def test_config_is_flat_json(tiny_backbone_config, tiny_backbone):
    assert json.loads(json.dumps(tiny_backbone_config.to_dict())) == tiny_backbone_config.to_dict()
    assert backbone_config(tiny_backbone) == tiny_backbone_config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_layers": 0}, "`num_layers` must be a positive int"),
        ({"hidden_dim": 30, "num_heads": 4}, "divisible by `num_heads`"),
        ({"dropout": 1.5}, "`dropout` must be in"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BackboneConfig(vocabulary_size=10, **kwargs)


def test_backbone_config_requires_its_vocabulary_size():
    # BackboneSize gives the configs that make a vocabulary a default; a
    # built backbone must be told its vocabulary's actual size.
    with pytest.raises(TypeError, match="vocabulary_size"):
        BackboneConfig()
    config = BackboneConfig(100, 3)  # positional order unchanged
    assert BackboneSize.fields_of(config) == {
        "vocabulary_size": 100, "num_layers": 3, "num_heads": 4, "hidden_dim": 128,
        "intermediate_dim": 512,
    }


def test_every_config_that_makes_a_backbone_inherits_its_size_fields():
    from kerasft.experiment import ExperimentConfig
    from kerasft.finetuning.config import FinetuneConfig
    from kerasft.pretraining.run import PretrainRunConfig

    for cls in (BackboneConfig, PretrainRunConfig, FinetuneConfig, ExperimentConfig):
        assert issubclass(cls, BackboneSize), cls


def test_override_fields_changes_only_what_it_names():
    @dataclasses.dataclass
    class Base:
        kind: str = option("a", "The kind.", choices=("a", "b"))
        size: int = option(2, "The size.")
        extra: int = 0

    @dataclasses.dataclass
    @override_fields(helps={"size": "The big size."}, defaults={"size": 6, "kind": "b"})
    class Big(Base):
        own: bool = option(True, "Its own field.")

    fields = {f.name: f for f in dataclasses.fields(Big)}
    assert list(fields) == ["kind", "size", "extra", "own"]  # places kept
    assert Big() == Big(kind="b", size=6, extra=0, own=True)
    assert fields["size"].metadata["help"] == "The big size."
    assert dict(fields["kind"].metadata) == {"help": "The kind.", "choices": ("a", "b")}
    assert Base().size == 2  # the base is untouched
    with pytest.raises(TypeError, match="takes fields that Broken inherits"):
        @dataclasses.dataclass
        @override_fields(defaults={"colour": "red"})
        class Broken(Base):
            pass


def test_check_choices_names_the_field_and_its_choices():
    @dataclasses.dataclass
    class Config:
        packing: str = option("pack", "Packing.", choices=("pack", "pad"))

    check_choices(Config())
    with pytest.raises(ValueError, match=r"`packing` must be one of \('pack', 'pad'\)"):
        check_choices(Config(packing="stream"))


def test_save_and_load_round_trip(tmp_path, tiny_backbone, tiny_preprocessor):
    directory = save_backbone(tiny_backbone, tiny_preprocessor, tmp_path / "backbone")
    backbone, preprocessor = load_backbone(directory)
    assert preprocessor.vocabulary == tiny_preprocessor.vocabulary
    assert preprocessor.sequence_length == tiny_preprocessor.sequence_length
    features = _features(preprocessor)
    np.testing.assert_allclose(
        backbone(features)["sequence_output"],
        tiny_backbone(features)["sequence_output"],
        atol=1e-6,
    )
    # keras-hub reads it as one of its own presets.
    again = keras_hub.models.BertBackbone.from_preset(directory)
    assert again.count_params() == tiny_backbone.count_params()
    # No temporary directories left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backbone"]


@pytest.mark.parametrize("fault", ["full disk mid-write", "refused final rename"])
def test_a_failed_save_leaves_the_previous_backbone(tmp_path, tiny_backbone, tiny_preprocessor,
                                                    monkeypatch, fault):
    import errno
    import os

    from kerasft.atomic_files import ArtifactWriteError

    directory = save_backbone(tiny_backbone, tiny_preprocessor, tmp_path / "backbone")
    directory = save_backbone(tiny_backbone, tiny_preprocessor, directory)  # replaces it
    before = {p.relative_to(directory): p.read_bytes()
              for p in sorted(tmp_path.glob("backbone/**/*")) if p.is_file()}
    real_replace = os.replace

    def failing(src, dst):
        if fault == "full disk mid-write" and dst.endswith("preprocessor.json"):
            raise OSError(errno.ENOSPC, "No space left on device", dst)
        if fault == "refused final rename" and dst == directory and src.endswith("-backbone"):
            raise PermissionError(errno.EACCES, "Permission denied", dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(ArtifactWriteError, match="Could not write .*(preprocessor.json|backbone): "
                                                 "(the disk is full|permission denied)"):
        save_backbone(tiny_backbone, tiny_preprocessor, directory)
    after = {p.relative_to(directory): p.read_bytes()
             for p in sorted(tmp_path.glob("backbone/**/*")) if p.is_file()}
    assert after == before and len(before) >= 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backbone"]  # no temporaries


def test_loading_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="Backbone directory not found"):
        load_backbone(tmp_path / "nope")


def test_loading_a_non_backbone_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is not a backbone directory"):
        load_backbone(tmp_path)
