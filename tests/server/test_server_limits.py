"""Security defaults, the full-queue 503, and the vision and Bayes JSON APIs, on a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from api_server_support import MODEL, start, stop

from app.service import ModelService
from server.config import InsecureBind, ServerConfig
from server.runner import ServerThread

ROOT = Path(__file__).resolve().parents[2]


def test_non_loopback_bind_needs_a_key() -> None:
    with pytest.raises(InsecureBind, match="api-key"):
        ServerConfig(host="0.0.0.0").check()
    ServerConfig(host="0.0.0.0", api_key="k").check()
    ServerConfig(host="::1").check()
    done = subprocess.run([sys.executable, "-c", "from ui.launcher import main; raise SystemExit(main())",
                           "serve", "--host", "0.0.0.0", "--port", "0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "--api-key" in done.stderr


def test_api_key_is_required_when_set(tmp_path: Path) -> None:
    running = start(tmp_path, api_key="s3cret")
    try:
        with pytest.raises(openai.AuthenticationError) as wrong:
            openai.OpenAI(base_url=running.base_url, api_key="nope", max_retries=0).models.list()
        assert wrong.value.status_code == 401 and "Bearer" in wrong.value.message
        missing = httpx.get(f"{running.base_url}/models")
        assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
        good = openai.OpenAI(base_url=running.base_url, api_key="s3cret", max_retries=0).models.list()
        assert MODEL in [m.id for m in good.data]
        assert httpx.get(f"{running.server.address}/health").status_code == 200  # probes need no key
    finally:
        stop(running)


def test_cors_is_off_unless_origins_are_listed() -> None:
    preflight = {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    with ModelService(None) as service:
        closed = ServerThread(service, ServerConfig(port=0)).start()
        opened = ServerThread(service, ServerConfig(port=0, cors_origins=("http://localhost:5173",))).start()
        try:
            refused = httpx.options(f"{closed.address}/v1/chat/completions", headers=preflight)
            assert "access-control-allow-origin" not in refused.headers
            allowed = httpx.options(f"{opened.address}/v1/chat/completions", headers=preflight)
            assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
            assert "access-control-allow-credentials" not in allowed.headers
            other = httpx.options(f"{opened.address}/v1/chat/completions",
                                  headers={**preflight, "Origin": "http://evil.example"})
            assert other.headers.get("access-control-allow-origin") != "http://evil.example"
        finally:
            closed.stop()
            opened.stop()


def test_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    running = start(tmp_path, queue_limit=1)
    config = running.server.config
    long = {"prompt": "Count:", "max_tokens": 64, "ignore_eos": True}
    try:
        busy = running.service.submit("llm", running.model_path, "complete", long, options=config.llm_options,
                                      threads=config.threads, record=False)
        for _event in busy.events(timeout=120):
            if busy.partials:
                break  # it runs: the next one waits in the queue
        waiting = running.service.submit("llm", running.model_path, "complete", long,
                                         options=config.llm_options, threads=config.threads, record=False)
        with pytest.raises(openai.APIStatusError) as refused:
            openai.OpenAI(base_url=running.base_url, api_key="x", max_retries=0).completions.create(
                model=MODEL, prompt="hi", max_tokens=2)
        assert refused.value.status_code == 503
        assert refused.value.response.headers["retry-after"].isdigit()
        assert refused.value.code == "queue_full"
        busy.cancel()
        waiting.cancel()
        busy.outcome(60)
        waiting.outcome(60)
    finally:
        stop(running)


def test_classify_and_bayes_endpoints(tmp_path: Path) -> None:
    running = start(tmp_path)
    try:
        image = (ROOT / "resources" / "images" / "coffee.jpg").read_bytes()
        answer = httpx.post(f"{running.base_url}/classify?top_k=3", content=image, timeout=300)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "efficientnet-lite0"
        assert "espresso" in str(body).lower() or "coffee" in str(body).lower()
        not_image = httpx.post(f"{running.base_url}/classify", content=b"not an image", timeout=120)
        assert not_image.status_code == 400 and "not an image" in not_image.json()["error"]["message"]
        query = httpx.post(f"{running.base_url}/bayes/query", timeout=120,
                           json={"network": "asia", "evidence": {"smoke": "yes"}, "targets": ["lung"]})
        assert query.status_code == 200, query.text
        assert query.json()["posteriors"]["lung"]["yes"] == pytest.approx(0.1)  # Asia's P(lung | smoker)
        unknown = httpx.post(f"{running.base_url}/bayes/query", json={"network": "no-such-net"}, timeout=120)
        assert unknown.status_code == 404 and "asia" in unknown.json()["error"]["message"]
    finally:
        stop(running)


def test_workbench_serve_command_serves_until_interrupted(tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-c", "from ui.launcher import main; raise SystemExit(main())",
                                "serve", "--port", str(port), "--parallel", "2", "--ttl", "30"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=30)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()  # type: ignore[union-attr]
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=60).json()
        assert MODEL in [m["id"] for m in models["data"]]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert f"serving on http://127.0.0.1:{port}/v1" in out
    assert process.returncode == 0, err
