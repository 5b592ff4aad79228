"""Fixtures for the model manager: a fresh workbench home, a loopback fake Hub and a manager wired to both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub_server import FakeHub

from app.history import History
from app.models.api import ModelManager
from app.models.hub import HubClient
from app.models.registry import Registry


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh WORKBENCH_HOME (registry database, token file) for one test."""
    folder = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(folder))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return folder


@pytest.fixture
def registry(home: Path) -> Iterator[Registry]:
    """The registry on the test's own database."""
    history = History(home / "workbench.db")
    yield Registry(history)
    history.close()


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """A running fake Hub (and CDN) on 127.0.0.1, stopped after the test."""
    with FakeHub() as hub:
        yield hub


@pytest.fixture
def hub_client(fake_hub: FakeHub) -> HubClient:
    """A Hub client pointed at the fake Hub, with short timeouts."""
    return HubClient(endpoint=fake_hub.url, timeout=1.0)


@pytest.fixture
def manager(registry: Registry, hub_client: HubClient, tmp_path: Path) -> ModelManager:
    """The model manager on the test's registry, fake Hub and Hugging Face cache folder."""
    return ModelManager(registry=registry, hub=hub_client, cache_dir=tmp_path / "hf-cache")
