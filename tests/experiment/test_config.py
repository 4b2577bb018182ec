"""The experiment's configuration: regimes, seeds, the mixture corpora and the recipe."""

import dataclasses

import pytest

from kerasft.experiment import ExperimentConfig, pretraining_plan
from kerasft.experiment.runs import finetune_config
from kerasft.finetuning.config import FinetuneConfig, FinetuneRecipe
from kerasft.pretraining.mlm import PretrainConfig


def test_config_rejects_bad_regimes_and_missing_mixture():
    with pytest.raises(ValueError, match="`regimes` must be distinct names"):
        ExperimentConfig(data_dir="d", regimes=("scratch", "pretrain_everything"))
    with pytest.raises(ValueError, match="needs `mixture_corpora`"):
        ExperimentConfig(data_dir="d", regimes=("mixture",))
    with pytest.raises(ValueError, match="`data_dir` is required"):
        ExperimentConfig()


def test_the_fine_tuning_recipe_is_inherited_with_the_experiments_defaults():
    config = ExperimentConfig(data_dir="d", regimes=("scratch",), learning_rate=3e-4)
    assert isinstance(config, FinetuneRecipe)
    assert (config.sequence_length, config.epochs, config.pooling, config.patience,
            config.monitor) == (64, 3, "mean", 1, "loss")
    files = {"train": "t.jsonl", "validation": "v.jsonl", "test": "x.jsonl"}
    ft = finetune_config(config, files, "backbone_dir", seed=7)
    assert ft == FinetuneConfig(
        **FinetuneRecipe.fields_of(config), train="t.jsonl", validation="v.jsonl",
        test="x.jsonl", backbone="backbone_dir", seed=7,
    )
    assert (ft.learning_rate, ft.sequence_length, ft.monitor) == (3e-4, 64, "loss")
    # Not in the recipe: the fine-tuning strategy stays kerasft-finetune's default.
    assert ft.strategy == FinetuneConfig.strategy


def test_small_learning_rate_replaces_the_rate_of_small_backbone_runs_only():
    files = {"train": "t.jsonl", "validation": "v.jsonl", "test": "x.jsonl"}
    config = ExperimentConfig(data_dir="d", regimes=("scratch",), learning_rate=2e-4,
                              small_learning_rate=1e-3)
    small = finetune_config(config, files, "", seed=0, small=True)
    minilm = finetune_config(config, files, "minilm", seed=0)
    assert (small.learning_rate, minilm.learning_rate) == (1e-3, 2e-4)
    # Nothing else differs between the two recipes.
    assert dataclasses.replace(small, learning_rate=2e-4, backbone="minilm") == minilm
    # Unset (0): every regime alike.
    unset = ExperimentConfig(data_dir="d", regimes=("scratch",), learning_rate=2e-4)
    assert finetune_config(unset, files, "", seed=0, small=True).learning_rate == 2e-4
    for bad in (-1e-3, 1.5, "fast"):
        with pytest.raises(ValueError, match="`small_learning_rate` must be a number"):
            ExperimentConfig(data_dir="d", regimes=("scratch",), small_learning_rate=bad)


def test_small_backbone_pretraining_takes_the_experiments_settings():
    config = ExperimentConfig(data_dir="d", regimes=("self_train",), num_layers=1,
                              hidden_dim=32, vocabulary_size=500, pretrain_dropout=0.2,
                              pretrain_whole_word_masking=True)
    files = {"train": "t.jsonl", "validation": "v.jsonl", "test": "x.jsonl"}
    plan = pretraining_plan(config, "self_train", files)
    run = dataclasses.asdict(plan.run_config)
    assert (run["num_layers"], run["hidden_dim"], run["vocabulary_size"]) == (1, 32, 500)
    assert (run["dropout"], run["sequence_length"]) == (0.2, 64)
    # The small-backbone budget defaults to kerasft-pretrain's.
    assert plan.train_config.steps == config.pretrain_steps == PretrainConfig.steps
    assert plan.train_config.whole_word_masking and not PretrainConfig.whole_word_masking
