"""Start a real uvicorn on 127.0.0.1 (port 0) over a real model service and the real SmolLM2 model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.history import History
from app.model_refs import resolve_for_load
from app.service import ModelService
from server.config import ServerConfig
from server.runner import ServerThread
from server.service import effective, make_service

MODEL = "smollm2-135m-instruct"


@dataclass
class Running:
    """A started server with its service and history."""

    server: ServerThread
    service: ModelService
    history: History
    model_path: str

    @property
    def base_url(self) -> str:
        return self.server.address + "/v1"

    def worker_pid(self) -> int:
        client = self.service.client("llm", self.model_path)
        assert client is not None and client.pid is not None
        return client.pid


def start(tmp: Path, *, api_key: str | None = None, queue_limit: int = 64, parallel: int = 1,
          chat_format: str | None = None) -> Running:
    """A server as ``workbench serve`` builds it, with a history file in ``tmp``."""
    config = effective(ServerConfig(port=0, n_ctx=512, threads=1, max_tokens_limit=64, api_key=api_key,
                                    parallel=parallel, chat_format=chat_format))
    history = History(tmp / "history.sqlite")
    service = make_service(history, config, ttl_s=None, queue_limit=queue_limit)
    server = ServerThread(service, config).start()
    return Running(server, service, history, resolve_for_load(MODEL, "llm"))


def stop(running: Running) -> None:
    """Stop the server, then the workers, then the history."""
    running.server.stop()
    running.service.close()
    running.history.close()
