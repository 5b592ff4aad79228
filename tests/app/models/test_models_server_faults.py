"""Servers that misbehave during a pull: too many bytes, a truncated copy (416), drops, drops without a
length, and what the user is told about each (issue 21, items 3 and 4)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fake_hub_server import FakeFile, FakeHub, Fault, tiny_gguf

from app.models.api import ModelManager
from app.models.download import DownloadProgress, download_file
from app.models.errors import ModelError, Reason
from app.models.hub import HubClient

REPO = "org/Faulty-GGUF"
FILE = "faulty-Q4_K_M.gguf"
SIZE = 3 * 1024 * 1024 + 77


def _publish(hub: FakeHub) -> tuple[bytes, FakeFile]:
    data = tiny_gguf(padding=SIZE)
    file = FakeFile(data)
    hub.add_repo(REPO, {FILE: file}, tags=["gguf"])
    return data, file


def _blobs(manager: ModelManager) -> Path:
    return manager.cache_dir / "models--org--Faulty-GGUF" / "blobs"


def _notices(seen: list[DownloadProgress]) -> list[str]:
    return [p.message for p in seen if p.phase == "notice"]


def test_a_body_longer_than_advertised_is_cut_at_the_advertised_size(fake_hub: FakeHub,
                                                                      manager: ModelManager) -> None:
    data, file = _publish(fake_hub)
    file.served = data + bytes(2 * 1024 * 1024)  # the right file, then 2 MiB the Hub never mentioned
    seen: list[DownloadProgress] = []
    record = manager.pull(REPO, FILE, on_progress=seen.append).record
    assert Path(record.path).read_bytes() == data
    assert [b.stat().st_size for b in _blobs(manager).iterdir()] == [len(data)]  # not a byte more on disk
    assert any("sent more bytes than the 3.0 MiB it advertised" in n for n in _notices(seen))

    # Pulling again finds the verified file: no download, no loop of deleting and fetching again.
    cdn_gets = len(fake_hub.requests_to("cdn", "GET"))
    assert not manager.pull(REPO, FILE).created
    assert len(fake_hub.requests_to("cdn", "GET")) == cdn_gets


def test_a_longer_body_that_is_another_file_is_refused_once_with_the_reason(fake_hub: FakeHub,
                                                                             manager: ModelManager) -> None:
    data, file = _publish(fake_hub)
    file.served = bytes(reversed(data)) + bytes(1024 * 1024)
    for _ in range(2):  # the same clear answer each time, never "pull again to resume"
        with pytest.raises(ModelError) as error:
            manager.pull(REPO, FILE)
        assert error.value.reason is Reason.CHECKSUM
        assert "sent more bytes than it advertised" in error.value.message
        assert "resume" not in error.value.message
        assert list(_blobs(manager).iterdir()) == []
    assert manager.registry.list(include_starters=False) == []


def test_416_from_a_truncated_copy_is_explained_and_restart_recovers(fake_hub: FakeHub,
                                                                      manager: ModelManager) -> None:
    data, file = _publish(fake_hub)
    fake_hub.add_fault(Fault("/blobs/", cut_after=2 * 1024 * 1024))
    with pytest.raises(ModelError):
        download_file(manager.hub, REPO, FILE, cache_dir=manager.cache_dir, retries=0)
    partial = next(_blobs(manager).glob("*.incomplete"))
    assert partial.stat().st_size == 2 * 1024 * 1024

    file.served = data[: 1024 * 1024]  # the file host now holds a truncated copy, shorter than the partial
    with pytest.raises(ModelError) as error:
        manager.pull(REPO, FILE)
    message = error.value.message
    assert error.value.reason is Reason.SERVER and "416" in message
    assert "its copy of the file is 1.0 MiB, no longer than the 2.0 MiB already downloaded" in message
    assert "truncated" in message and "--restart" in message and "try again later" not in message
    assert partial.stat().st_size == 2 * 1024 * 1024  # nothing thrown away without being asked

    file.served = None  # fixed on the server: --restart discards the partial and starts from byte 0
    seen: list[DownloadProgress] = []
    result = manager.pull(REPO, FILE, restart=True, on_progress=seen.append)
    assert Path(result.record.path).read_bytes() == data and result.files[0].resumed_from == 0
    assert any("discarded the partial download (2.0 MiB)" in n for n in _notices(seen))


def test_a_drop_names_the_file_host_and_retries_are_reported(fake_hub: FakeHub, hub_client: HubClient,
                                                             tmp_path: Path) -> None:
    data, _ = _publish(fake_hub)
    fake_hub.add_fault(Fault("/blobs/", cut_after=0, times=2))  # two drops in a row before any byte
    seen: list[DownloadProgress] = []
    result = download_file(hub_client, REPO, FILE, cache_dir=tmp_path, on_progress=seen.append)
    assert result.path.read_bytes() == data
    notices = _notices(seen)
    assert len(notices) == 2
    assert notices[0].endswith("resuming (1/5)") and notices[1].endswith("resuming (2/5)")
    assert all(f"file host {fake_hub.cdn_url}" in n and "connection lost at 0 B" in n for n in notices)

    fake_hub.add_fault(Fault("/blobs/", cut_after=1024 * 1024))  # 1 MiB arrives, then every try fails
    fake_hub.add_fault(Fault("/blobs/", cut_after=0, times=10))
    with pytest.raises(ModelError) as error:
        download_file(hub_client, REPO, FILE, cache_dir=tmp_path / "other", retries=2)
    message = error.value.message
    assert error.value.reason is Reason.NETWORK
    assert f"the file host {fake_hub.cdn_url} dropped the connection at 1.0 MiB" in message
    assert re.search(rf"{re.escape(fake_hub.url)}\b", message) is None  # not the Hub, which answered fine
    assert "run the same pull again to resume" in message


def test_a_body_that_ends_early_without_a_length_is_resumed(fake_hub: FakeHub, manager: ModelManager) -> None:
    data, _ = _publish(fake_hub)
    fake_hub.add_fault(Fault("/blobs/", no_length=True, cut_after=len(data) // 2))
    seen: list[DownloadProgress] = []
    result = manager.pull(REPO, FILE, on_progress=seen.append)
    assert Path(result.record.path).read_bytes() == data
    notices = _notices(seen)
    assert len(notices) == 1 and f"at {len(data) // 2 / 2**20:.1f} MiB" in notices[0]
    ranged = [r.headers.get("range") for r in fake_hub.requests_to("cdn", "GET")]
    assert ranged == [None, f"bytes={len(data) // 2}-"]
