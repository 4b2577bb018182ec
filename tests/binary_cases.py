"""Run one kerasft binary on several command lines in one fresh process.

Usage (tests call it through `conftest.run_binary_cases`):
    python tests/binary_cases.py PROG CASES.json RESULTS.json

PROG is the console script's path (`.venv/bin/kerasft-finetune`): its module
is imported once and run once per case exactly as the console script runs it
(`run()`, `sys.argv[0]` = PROG, flags reset to their defaults between cases).
A case is `[argv, stdin text or null]`. Each result is
`{"returncode", "stdout", "stderr"}` captured at the
file-descriptor level, so TensorFlow's C++ logging and tracebacks count as
they would in a terminal. Why: a binary's start is ~5 s of TensorFlow import,
and its `--help` and clean-error checks need a fresh process, not one each.
"""

import importlib
import io
import json
import os
import sys
import tempfile
import traceback


def _captured(call):
    """`call()`'s exit status, and what it wrote to fds 1 and 2."""
    files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, file in zip((1, 2), files):
        os.dup2(file.fileno(), fd)
    try:
        code = call()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
    texts = []
    for file in files:
        file.seek(0)
        texts.append(file.read().decode("utf-8", errors="replace"))
    return code, *texts


def _run_once(module) -> int:
    try:
        module.run()
    except SystemExit as exit_:
        code = exit_.code
        if code is None:
            return 0
        if not isinstance(code, int):
            print(code, file=sys.stderr)  # what Python does with sys.exit("...")
            return 1
        return code
    except BaseException:  # an uncaught error: the traceback a terminal shows
        traceback.print_exc()
        return 1
    return 0


def main() -> None:
    prog, cases_path, results_path = sys.argv[1:]
    binary = os.path.basename(prog)  # kerasft-finetune -> kerasft.cli.finetune
    module = importlib.import_module("kerasft.cli." + binary.removeprefix("kerasft-"))
    from absl import flags

    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    results = []
    for argv, stdin in cases:
        sys.argv = [prog, *argv]
        sys.stdin = io.StringIO(stdin or "")  # none: end of input, as /dev/null
        code, out, err = _captured(lambda: _run_once(module))
        flags.FLAGS.unparse_flags()  # the next case starts from the defaults
        results.append({"returncode": code, "stdout": out, "stderr": err})
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
