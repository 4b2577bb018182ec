"""Fixtures shared by the corpus tests: files on disk and captured warnings."""

import pytest
from absl import logging


@pytest.fixture
def warnings_logged(monkeypatch) -> list[str]:
    """The messages `absl.logging.warning` logs during the test."""
    messages = []
    monkeypatch.setattr(
        logging, "warning", lambda msg, *args: messages.append(msg % args)
    )
    return messages


@pytest.fixture
def write():
    """`write(path, data)`: writes str (as UTF-8) or bytes, returns the path."""

    def write(path, data):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return str(path)

    return write
