"""What every kerasft binary shares: common flags and the error boundary.

Binaries define their own flags at import and call `run_app(main)`. User
errors (`ValueError`, `TypeError`, `FileNotFoundError`) become one clear
line on stderr and exit status 2 instead of a stack trace; `--debug` shows
the trace.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS

flags.DEFINE_integer("seed", 0, "Random seed for weights, shuffling and masking.")
flags.DEFINE_bool("debug", False, "Show full stack traces for errors.")
flags.DEFINE_bool(
    "progress", True, "Show a Keras progress bar (one line an epoch when off)."
)


def keras_verbosity() -> int | str:
    return "auto" if FLAGS.progress else 2


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
        try:
            return main(argv)
        except (ValueError, TypeError, FileNotFoundError, ImportError) as e:
            if FLAGS.debug:
                raise
            print(f"{prog}: error: {e}", file=sys.stderr)
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


def define_dataclass_flags(cls, helps: dict[str, str], skip: tuple[str, ...] = ()) -> None:
    """Define one flag per field of a config dataclass, with its default.

    Keeps each default in one place (the dataclass) for both Python and the
    command line.
    """
    import dataclasses

    definers = {
        bool: flags.DEFINE_bool,
        int: flags.DEFINE_integer,
        float: flags.DEFINE_float,
        str: flags.DEFINE_string,
    }
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        kind = field.type if isinstance(field.type, type) else eval(field.type)  # noqa: S307
        definers[kind](field.name, field.default, helps.get(field.name, field.name))


def dataclass_from_flags(cls, skip: tuple[str, ...] = (), **overrides):
    import dataclasses

    values = {
        f.name: FLAGS[f.name].value
        for f in dataclasses.fields(cls)
        if f.name not in skip
    }
    values.update(overrides)
    return cls(**values)
