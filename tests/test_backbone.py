"""Backbone config, building, and backbone directories (keras-hub presets)."""

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


def test_loading_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="Backbone directory not found"):
        load_backbone(tmp_path / "nope")


def test_loading_a_non_backbone_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is not a backbone directory"):
        load_backbone(tmp_path)
