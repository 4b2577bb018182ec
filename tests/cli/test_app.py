"""Config dataclasses as absl flags: one declaration for Python and the command line."""

import dataclasses
import json
from collections.abc import Sequence

import pytest
from absl import flags

from kerasft.backbone import option
from kerasft.cli import app


@dataclasses.dataclass
class _Toy:
    name: str = option("a", "A name.")
    count: int = option(3, "A count.")
    rate: float = option(0.5, "A rate.")
    on: bool = option(True, "A switch.")
    kind: str = option("x", "A kind.", choices=("x", "y"))
    horizon: int | None = option(None, "A horizon (0: none).")
    budget: float | None = option(None, "A budget (0: none).")
    ratio: float | None = option(0.1, "A ratio (None only from Python).")
    splits: Sequence[str] = option(("train",), "Splits.")
    seeds: Sequence[int] = option((0, 1), "Seeds.")
    corpora: Sequence[str] = option((), "A corpus; repeat.", flag="corpus", repeat=True)
    clipnorm: float = 1.0  # Python-only: no `option`


def _parsed(*classes, argv=()):
    values = flags.FlagValues()
    app.define_dataclass_flags(*classes, flag_values=values)
    values(["prog", *argv])
    return values


def _as_json(config):
    # What a run's config.json records (tuples and lists alike).
    return json.loads(json.dumps(dataclasses.asdict(config)))


def test_flags_take_each_fields_name_default_help_and_kind():
    values = _parsed(_Toy)
    assert values["count"].default == 3 and values["count"].help == "A count."
    assert values["kind"].parser.enum_values == ["x", "y"]
    assert values["horizon"].default == 0 and values["budget"].default == 0.0
    assert values["ratio"].default == 0.1
    assert values["splits"].default == ["train"] and values["corpus"].default == []
    assert "clipnorm" not in values and "corpora" not in values
    assert _as_json(app.dataclass_from_flags(_Toy, flag_values=values)) == _as_json(_Toy())


def test_zero_means_none_only_where_the_default_is_none():
    config = app.dataclass_from_flags(_Toy, flag_values=_parsed(
        _Toy, argv=["--horizon=0", "--budget=0", "--ratio=0"]))
    assert (config.horizon, config.budget, config.ratio) == (None, None, 0.0)
    config = app.dataclass_from_flags(_Toy, flag_values=_parsed(
        _Toy, argv=["--horizon=5", "--budget=2.5"]))
    assert (config.horizon, config.budget) == (5, 2.5)


def test_sequence_flags_lists_repeats_and_integers():
    values = _parsed(_Toy, argv=["--splits=a,b", "--corpus=p", "--corpus=q:2", "--seeds=4,5"])
    config = app.dataclass_from_flags(_Toy, flag_values=values, count=9)
    assert config.splits == ["a", "b"] and config.corpora == ["p", "q:2"]
    assert config.seeds == [4, 5] and config.count == 9
    with pytest.raises(ValueError, match="`--seeds` must be comma-separated integers"):
        app.dataclass_from_flags(_Toy, flag_values=_parsed(_Toy, argv=["--seeds=4,x"]))


def test_a_field_type_with_no_flag_kind_is_a_clear_error():
    @dataclasses.dataclass
    class Bad:
        table: dict = option(None, "A table.")

    with pytest.raises(TypeError, match="No flag kind for field `Bad.table`"):
        app.define_dataclass_flags(Bad, flag_values=flags.FlagValues())


def test_the_binaries_flags_default_to_their_configs():
    """Defaults are stated once: flags given nothing make the default configs."""
    from kerasft.experiment import ExperimentConfig
    from kerasft.finetuning.config import FinetuneConfig
    from kerasft.pretraining.mlm import PretrainConfig
    from kerasft.pretraining.run import PretrainRunConfig

    values = _parsed(PretrainRunConfig, PretrainConfig)
    for cls in (PretrainRunConfig, PretrainConfig):
        assert _as_json(app.dataclass_from_flags(cls, flag_values=values)) == _as_json(cls())
    values = _parsed(FinetuneConfig, argv=["--train=t", "--validation=v"])
    assert _as_json(app.dataclass_from_flags(FinetuneConfig, flag_values=values)) == _as_json(
        FinetuneConfig(train="t", validation="v"))
    values = _parsed(ExperimentConfig, argv=["--data_dir=d", "--mixture_corpus=m"])
    assert _as_json(app.dataclass_from_flags(ExperimentConfig, flag_values=values)) == _as_json(
        ExperimentConfig(data_dir="d", mixture_corpora=("m",)))
