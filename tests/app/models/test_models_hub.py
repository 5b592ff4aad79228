"""Hub search and file listings through huggingface_hub, against the loopback fake Hub."""

from __future__ import annotations

import time

import pytest
from fake_hub_server import FakeFile, FakeHub, Fault, tiny_gguf

from app.models.api import ModelManager
from app.models.errors import ModelError, Reason
from app.models.hub import HubClient
from core.memory_fit import FitVerdict

GIB = 1024**3


def _publish(hub: FakeHub) -> None:
    hub.add_repo("bartowski/Qwen-0.5B-GGUF", {
        "Qwen-0.5B-Q4_K_M.gguf": tiny_gguf(padding=1000),
        "Qwen-0.5B-Q8_0.gguf": tiny_gguf(file_type=7, padding=2000),
        "README.md": b"# card\n",
    }, tags=["gguf", "text-generation"], downloads=900, likes=10, last_modified="2025-03-01T00:00:00.000Z")
    hub.add_repo("someone/qwen-chat-GGUF", {"q.Q2_K.gguf": tiny_gguf()}, tags=["gguf"], downloads=50,
                 likes=99, last_modified="2025-06-01T00:00:00.000Z")
    hub.add_repo("timm/resnet18.a1_in1k", {"model.safetensors": b"x" * 100, "config.json": b"{}"},
                 tags=["timm", "safetensors", "image-classification"], pipeline_tag="image-classification",
                 library_name="timm", downloads=5000)


def test_search_gguf_repositories_sorted_by_each_key(fake_hub: FakeHub, hub_client: HubClient) -> None:
    _publish(fake_hub)
    by_downloads = hub_client.search("qwen", kind="llm", sort="downloads")
    assert [r.id for r in by_downloads] == ["bartowski/Qwen-0.5B-GGUF", "someone/qwen-chat-GGUF"]
    assert (by_downloads[0].downloads, by_downloads[0].likes) == (900, 10)
    assert by_downloads[0].updated is not None and by_downloads[0].updated.year == 2025
    assert hub_client.search("qwen", sort="likes")[0].id == "someone/qwen-chat-GGUF"
    assert hub_client.search("qwen", sort="updated")[0].id == "someone/qwen-chat-GGUF"
    assert len(hub_client.search("qwen", limit=1)) == 1
    request = fake_hub.requests_to("hub")[0]
    assert "filter=gguf" in request.path and "search=qwen" in request.path


def test_search_vision_finds_timm_image_classifiers_only(fake_hub: FakeHub, hub_client: HubClient) -> None:
    _publish(fake_hub)
    assert [r.id for r in hub_client.search("", kind="vision")] == ["timm/resnet18.a1_in1k"]
    with pytest.raises(ModelError, match="kind must be one of"):
        hub_client.search("x", kind="audio")


def test_files_show_sizes_quant_and_fit_verdicts(fake_hub: FakeHub, manager: ModelManager) -> None:
    _publish(fake_hub)
    # A split model whose parts together are far too big for any machine, next to a small one.
    fake_hub.add_repo("big/Huge-GGUF", {
        "Huge-Q4_K_M-00001-of-00002.gguf": FakeFile(tiny_gguf(), advertised_size=600 * 1024 * GIB),
        "Huge-Q4_K_M-00002-of-00002.gguf": FakeFile(b"rest", advertised_size=600 * 1024 * GIB),
        "small-Q8_0.gguf": tiny_gguf(file_type=7),
    })
    listing = manager.files("bartowski/Qwen-0.5B-GGUF")
    rows = {row.file.filename: row for row in listing.rows}
    assert rows["Qwen-0.5B-Q4_K_M.gguf"].file.quant == "Q4_K_M"
    assert rows["Qwen-0.5B-Q8_0.gguf"].file.quant == "Q8_0"
    q4 = rows["Qwen-0.5B-Q4_K_M.gguf"]
    assert q4.file.size == len(tiny_gguf(padding=1000)) and q4.file.sha256 and len(q4.file.sha256) == 64
    assert q4.fit is not None and q4.fit.verdict in (FitVerdict.RAM, FitVerdict.FULL_GPU)
    assert q4.fit.required_bytes > q4.file.size  # weights + KV cache + runtime buffers
    assert rows["README.md"].fit is None and rows["README.md"].file.sha256 is None
    assert listing.free_ram > 0 and listing.n_ctx == 4096

    huge = {row.file.filename: row for row in manager.files("big/Huge-GGUF").rows}
    first = huge["Huge-Q4_K_M-00001-of-00002.gguf"]
    assert first.file.shard == ("Huge-Q4_K_M", 1, 2) and first.model_size == 1200 * 1024 * GIB
    assert first.fit is not None and first.fit.verdict is FitVerdict.NO
    assert huge["small-Q8_0.gguf"].fit is not None and huge["small-Q8_0.gguf"].fit.verdict is not FitVerdict.NO


def test_longer_context_needs_more_memory(fake_hub: FakeHub, manager: ModelManager) -> None:
    _publish(fake_hub)
    short = manager.files("bartowski/Qwen-0.5B-GGUF", n_ctx=2048).rows[0].fit
    long = manager.files("bartowski/Qwen-0.5B-GGUF", n_ctx=32768).rows[0].fit
    assert short is not None and long is not None and long.required_bytes > short.required_bytes


def test_unknown_repository_revision_and_bad_ids(fake_hub: FakeHub, hub_client: HubClient) -> None:
    _publish(fake_hub)
    with pytest.raises(ModelError) as error:
        hub_client.repo_files("nobody/nothing")
    assert error.value.reason is Reason.NOT_FOUND and "not found" in error.value.message
    with pytest.raises(ModelError) as error:
        hub_client.repo_files("bartowski/Qwen-0.5B-GGUF", revision="v9")
    assert error.value.reason is Reason.NOT_FOUND and "revision" in error.value.message
    for bad in ("../etc/passwd", "a/b/c", "", "org/.."):
        with pytest.raises(ModelError, match="not a Hugging Face repository id"):
            hub_client.repo_files(bad)
    with pytest.raises(ModelError, match="not a valid revision"):
        hub_client.repo_files("bartowski/Qwen-0.5B-GGUF", revision="../../x")
    assert len(fake_hub.requests_to("hub")) == 2  # the bad ids never reached the network


def test_server_error_and_timeout_give_clear_messages(fake_hub: FakeHub, hub_client: HubClient) -> None:
    _publish(fake_hub)
    fake_hub.add_fault(Fault("/api/models/bartowski", status=500))
    with pytest.raises(ModelError) as error:
        hub_client.repo_files("bartowski/Qwen-0.5B-GGUF")
    assert error.value.reason is Reason.SERVER
    assert "answered 500" in error.value.message and "try again later" in error.value.message

    fake_hub.add_fault(Fault("/api/models", delay_s=3.0))
    started = time.monotonic()
    with pytest.raises(ModelError) as error:
        hub_client.search("qwen")
    assert error.value.reason is Reason.TIMEOUT
    assert "did not answer within 1 s" in error.value.message
    assert time.monotonic() - started < 2.5


def test_unreachable_hub_is_a_network_error() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = HubClient(endpoint=f"http://127.0.0.1:{port}", timeout=1.0)
    with pytest.raises(ModelError) as error:
        client.search("x")
    assert error.value.reason is Reason.NETWORK and "cannot reach" in error.value.message


def test_hostile_file_names_in_a_listing_are_refused(fake_hub: FakeHub, hub_client: HubClient) -> None:
    for name in ("../../evil.gguf", "/etc/evil.gguf", "a\\..\\b.gguf", "ok/./x.gguf"):
        fake_hub.add_repo("evil/repo", {name: b"x"})
        with pytest.raises(ModelError, match="refusing repository file name"):
            hub_client.repo_files("evil/repo")
