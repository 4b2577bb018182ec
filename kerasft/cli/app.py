"""What every kerasft binary shares: common flags, config flags and the error boundary.

Binaries define their flags at import, mostly with `define_dataclass_flags`
(one flag per `option` field of a config dataclass, so each default and help
text is stated once, on the field), and call `run_app(main)`. User
errors (`ValueError`, `TypeError`, `ImportError`) and resource faults (any
`OSError`: a missing file, a full disk, a directory you cannot write to)
become one clear line on stderr and exit status 2 instead of a stack trace;
`--debug` shows the trace. `.keras` files load in Keras safe mode unless
`--unsafe_deserialization` is given.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import errno
import os
import sys
import types
import typing
from typing import Any

from absl import app, flags, logging

FLAGS = flags.FLAGS

flags.DEFINE_integer("seed", 0, "Random seed for weights, shuffling and masking.")
flags.DEFINE_bool("debug", False, "Show full stack traces for errors.")
flags.DEFINE_bool(
    "progress", True, "Show a Keras progress bar (one line an epoch when off)."
)
flags.DEFINE_bool(
    "unsafe_deserialization", False,
    "Allow loading .keras files whose loading runs Python code stored in them "
    "(Lambda layers, lambdas): arbitrary code. Only for files you trust; off, "
    "Keras safe mode refuses them.",
)


def keras_verbosity() -> int | str:
    return "auto" if FLAGS.progress else 2


def define_distribution_flag() -> None:
    """`--distribution` of the training binaries (`kerasft.distribution`)."""
    from kerasft.distribution import DISTRIBUTIONS

    flags.DEFINE_enum(
        "distribution", "default", list(DISTRIBUTIONS),
        "tf.distribute strategy: default (one device), mirrored (every local "
        "GPU, or the CPU), multi_worker (the hosts of TF_CONFIG). --batch_size "
        "stays the global batch.",
        module_name=sys._getframe(1).f_globals["__name__"],
    )


def training_strategy():
    """The context that installs the `--distribution` strategy for the run.

    Example:
    >>> with training_strategy():  # doctest: +SKIP
    ...     finetune(config, FLAGS.output_dir)
    """
    from kerasft.distribution import make_strategy, use_strategy

    return use_strategy(make_strategy(FLAGS.distribution))


def _quiet_tensorflow() -> None:
    # TF's C++ start-up chatter (CUDA probes, oneDNN notices) hides the
    # messages users need; errors still come through.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # when TF is not loaded yet


# Keras notices that are expected in kerasft's use and only confuse users:
# the pooler gets no gradient in pretraining, datasets are shuffled by
# kerasft itself, and held-out sets are finite datasets of unknown length.
_EXPECTED_WARNINGS = (
    "Gradients do not exist for variables",
    "`shuffle=True` was passed",
    "Your input ran out of data",
)


def _quiet_expected_warnings() -> None:
    import warnings

    for message in _EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=".*" + message)


# What to do about an `OSError` whose message does not already say it.
_OS_ERROR_HINTS = {
    errno.ENOSPC: "The disk is full: free some space and run again.",
    errno.EDQUOT: "The disk quota is used up: free some space and run again.",
    errno.EACCES: "Choose a directory you can write to, or fix its permissions.",
    errno.EPERM: "Choose a directory you can write to, or fix its permissions.",
    errno.EROFS: "The file system is read-only: choose another directory.",
}


def error_line(error: BaseException) -> str:
    """The one-line message `run_app` prints for an error escaping a binary.

    Example:
    >>> error_line(OSError(errno.ENOSPC, "No space left on device", "runs/x/metrics.json"))
    "[Errno 28] No space left on device: 'runs/x/metrics.json'. The disk is full: free some space and run again."
    """
    from kerasft.atomic_files import ArtifactWriteError

    if isinstance(error, ArtifactWriteError):
        return error.strerror or str(error)  # names the file and what to do; no "[Errno 28]"
    hint = _OS_ERROR_HINTS.get(getattr(error, "errno", None))
    return f"{error}. {hint}" if isinstance(error, OSError) and hint else str(error)


def run_app(main) -> None:
    """Run an absl `main(argv)` with kerasft's error handling."""
    _quiet_tensorflow()
    _quiet_expected_warnings()
    prog = os.path.basename(sys.argv[0]) or "kerasft"
    _adopt_help(sys.modules[main.__module__])

    def guarded(argv):
        import logging as std_logging

        logging.set_verbosity(logging.INFO)
        # TF's own Python INFO lines (signature renames, saver timings) are noise here.
        std_logging.getLogger("tensorflow").setLevel(std_logging.WARNING)
        if FLAGS.unsafe_deserialization:
            import keras

            # Process-wide, and Keras lets it win over an explicit
            # `safe_mode=True`, so every load in this binary allows code.
            keras.config.enable_unsafe_deserialization()
        try:
            return main(argv)
        except (ValueError, TypeError, OSError, ImportError) as e:
            if FLAGS.debug:
                raise
            print(f"{prog}: error: {error_line(e)}", file=sys.stderr)
            sys.exit(2)

    app.run(guarded)


def _adopt_help(module) -> None:
    """Make `--help` show the binary's docstring and flags.

    Console-script wrappers are the `__main__` module, so absl would show
    their (empty) docstring and no key flags; point both at the binary's
    module instead.
    """
    sys.modules["__main__"].__doc__ = module.__doc__
    for source in (module.__name__, __name__):
        for flag in FLAGS.get_key_flags_for_module(source):
            FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def reject_extra_args(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")


@dataclasses.dataclass(frozen=True)
class _FieldFlag:
    """How one `option` field of a config dataclass is a flag."""

    field: dataclasses.Field
    name: str
    kind: type  # bool, int, float or str: the value's, or each item's
    optional: bool  # `X | None` with a None default: 0 or empty means None
    sequence: bool  # a list flag (or a repeated one, with `repeat`)


_DEFINERS = {
    bool: flags.DEFINE_bool,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    str: flags.DEFINE_string,
}
_ITEM_WORDS = {int: "integers", float: "numbers"}


def _field_flags(cls: type) -> list[_FieldFlag]:
    """The flags of `cls`: its fields declared with `kerasft.backbone.option`."""
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        if "help" not in field.metadata:
            continue  # Python-only (e.g. `seed`, the binaries' common --seed)
        hint, optional, sequence = hints[field.name], False, False
        if typing.get_origin(hint) in (types.UnionType, typing.Union):
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = field.default is None
        if typing.get_origin(hint) in (list, tuple, collections.abc.Sequence):
            hint, sequence = typing.get_args(hint)[0], True
        if hint not in _DEFINERS or (sequence and hint is bool):
            raise TypeError(
                f"No flag kind for field `{cls.__name__}.{field.name}` of type "
                f"{hints[field.name]!r}. Expected bool, int, float, str, `X | None` "
                "or a sequence of str, int or float."
            )
        name = field.metadata.get("flag", field.name)
        found.append(_FieldFlag(field, name, hint, optional, sequence))
    return found


def define_dataclass_flags(
    *classes: type,
    module_name: str | None = None,
    flag_values: flags.FlagValues = FLAGS,
) -> None:
    """Define one flag per `option` field of config dataclasses.

    The field is the flag's only declaration: its name (or metadata `flag`),
    default, help and `choices` make the flag, so Python and the command line
    share every default.

    | field | flag |
    | --- | --- |
    | `bool`, `int`, `float`, `str` | `DEFINE_bool`, `_integer`, `_float`, `_string` |
    | with `choices` | `DEFINE_enum` |
    | `X | None`, default None | X's flag with default 0 (or empty), which means None |
    | `X | None`, other default | X's flag (None stays Python-only) |
    | `Sequence[X]`, `tuple[X, ...]` | `DEFINE_list`; `DEFINE_multi_string` with `repeat` |

    Args:
        *classes: the config dataclasses (their flag names must differ).
        module_name: the module the flags belong to (for `--helpfull` and key
            flags); defaults to the calling module.
        flag_values: where to define them (tests use a fresh `FlagValues`).

    Example:
    >>> define_dataclass_flags(PretrainRunConfig, PretrainConfig)  # doctest: +SKIP
    """
    where = {
        "module_name": module_name or sys._getframe(1).f_globals["__name__"],
        "flag_values": flag_values,
    }
    for flag in [flag for cls in classes for flag in _field_flags(cls)]:
        default, meta = flag.field.default, flag.field.metadata
        if flag.sequence:
            define = flags.DEFINE_multi_string if meta.get("repeat") else flags.DEFINE_list
            define(flag.name, [str(v) for v in default], meta["help"], **where)
        elif "choices" in meta:
            flags.DEFINE_enum(flag.name, default, list(meta["choices"]), meta["help"], **where)
        else:
            default = flag.kind() if flag.optional else default
            _DEFINERS[flag.kind](flag.name, default, meta["help"], **where)


def dataclass_from_flags(
    cls: type, *, flag_values: flags.FlagValues = FLAGS, **overrides: Any
) -> Any:
    """A config dataclass made from its flags (`define_dataclass_flags`).

    Args:
        cls: the config dataclass.
        flag_values: the parsed flags.
        **overrides: field values that do not come from its flags (e.g.
            `seed=FLAGS.seed`).

    Example:
    >>> config = dataclass_from_flags(FinetuneConfig, seed=FLAGS.seed)  # doctest: +SKIP
    """
    values = {}
    for flag in _field_flags(cls):
        if flag.field.name in overrides:
            continue
        value = flag_values[flag.name].value
        if flag.sequence and flag.kind is not str:
            try:
                value = [flag.kind(v) for v in value]
            except ValueError:
                raise ValueError(
                    f"`--{flag.name}` must be comma-separated "
                    f"{_ITEM_WORDS[flag.kind]}. Received: {value!r}."
                ) from None
        elif flag.optional and not value:
            value = None
        values[flag.field.name] = value
    return cls(**values, **overrides)
