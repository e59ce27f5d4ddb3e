"""Fixtures for the channels tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .chankit import Server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    try:
        yield srv
    finally:
        srv.stop()
