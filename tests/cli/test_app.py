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


def _run_app(monkeypatch, main, *args) -> int:
    """`app.run_app(main)` in this process, as `kerasft-test ARGS`; its exit status."""
    import sys

    from absl.testing import flagsaver

    monkeypatch.setattr(sys, "argv", ["kerasft-test", *args])
    main_module = sys.modules["__main__"]
    monkeypatch.setattr(main_module, "__doc__", main_module.__doc__)  # run_app sets it
    was_parsed = flags.FLAGS.is_parsed()
    try:
        with flagsaver.flagsaver(), pytest.raises(SystemExit) as exited:
            app.run_app(main)
    finally:
        if not was_parsed:
            flags.FLAGS.unparse_flags()
    return exited.value.code


def _raise(error):
    def main(argv):
        raise error

    return main


@pytest.mark.parametrize(
    "error, line",
    [
        (OSError(28, "No space left on device", "runs/x/metrics.json"),
         "[Errno 28] No space left on device: 'runs/x/metrics.json'. "
         "The disk is full: free some space and run again."),
        (PermissionError(13, "Permission denied", "/srv/out/report.md"),
         "[Errno 13] Permission denied: '/srv/out/report.md'. "
         "Choose a directory you can write to, or fix its permissions."),
        (OSError(30, "Read-only file system", "/ro/config.json"),
         "[Errno 30] Read-only file system: '/ro/config.json'. "
         "The file system is read-only: choose another directory."),
    ],
)
def test_an_os_error_is_one_clean_line_and_status_2(monkeypatch, capsys, error, line):
    assert _run_app(monkeypatch, _raise(error)) == 2
    err = capsys.readouterr().err
    assert err == f"kerasft-test: error: {line}\n"


def test_an_artifact_write_error_prints_its_own_message(monkeypatch, capsys, tmp_path):
    from kerasft.atomic_files import write_text

    def main(argv):
        (tmp_path / "report.md").mkdir()  # a directory where the file goes: EISDIR/ENOTEMPTY
        (tmp_path / "report.md" / "x").write_text("")
        write_text(tmp_path / "report.md", "# Report\n")

    assert _run_app(monkeypatch, main) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kerasft-test: error: Could not write {tmp_path / 'report.md'}: ")
    assert err.count("\n") == 1 and "Errno" not in err and "Traceback" not in err


def test_debug_shows_the_os_error_itself(monkeypatch):
    with pytest.raises(PermissionError, match="Permission denied"):
        _run_app(monkeypatch, _raise(PermissionError(13, "Permission denied", "x")), "--debug")


def test_unsafe_deserialization_flag_allows_lambda_files_in_the_binary(
    monkeypatch, capsys, tmp_path
):
    import keras
    import numpy as np
    from keras.src.backend.common import global_state

    import kerasft

    path = str(tmp_path / "lambda.keras")
    keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x + 1.0)]).save(path)
    outputs = []

    def main(argv):
        outputs.append(kerasft.load_model(path)(np.zeros((1, 2), "float32")))

    assert _run_app(monkeypatch, main) == 2
    assert "error: Refused to load" in capsys.readouterr().err and not outputs
    try:
        assert _run_app(monkeypatch, main, "--unsafe_deserialization") is None
    finally:
        global_state.set_global_attribute("safe_mode_saving", None)
    np.testing.assert_allclose(outputs[0], [[1.0, 1.0]])
