"""The experiment's configuration: regimes, seeds and the mixture corpora."""

import pytest

from kerasft.experiment import ExperimentConfig


def test_config_rejects_bad_regimes_and_missing_mixture():
    with pytest.raises(ValueError, match="`regimes` must be distinct names"):
        ExperimentConfig(data_dir="d", regimes=("scratch", "pretrain_everything"))
    with pytest.raises(ValueError, match="needs `mixture_corpora`"):
        ExperimentConfig(data_dir="d", regimes=("mixture",))
    with pytest.raises(ValueError, match="`data_dir` is required"):
        ExperimentConfig()
