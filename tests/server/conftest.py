"""The module-scoped server the conformance tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_server_support import Running, start, stop


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server for a test module (loading the model once)."""
    running = start(tmp_path_factory.mktemp("served"))
    yield running
    stop(running)
