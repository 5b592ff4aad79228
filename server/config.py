"""How the server is started: address, key, CORS, limits and how models are loaded."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

DEFAULT_PORT = 1234
MAX_BODY_BYTES = 8 * 1024 * 1024  # a chat with a long context fits; an accidental upload does not
MAX_TOKENS_LIMIT = 8192


class InsecureBind(ValueError):
    """A non-loopback address without an API key."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``workbench serve`` and the Server page decide before the first request."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    parallel: int = 1  # requests of one model decoded together (the LLM load option ``parallel``)
    n_ctx: int | None = None  # the context each request gets (None: the engine's default)
    threads: int | None = None
    chat_format: str | None = None  # a builtin name or Jinja text overriding the GGUFs' templates
    device: str = "cpu"
    max_body_bytes: int = MAX_BODY_BYTES
    max_tokens_limit: int = MAX_TOKENS_LIMIT
    preload: tuple[str, ...] = field(default=())

    def check(self) -> None:
        """Refuse an exposed address without a key (Ollama's 175k open servers) and bad numbers."""
        if not is_loopback(self.host) and not self.api_key:
            raise InsecureBind(f"binding {self.host} makes the server reachable from other machines: give an API "
                               "key (--api-key KEY; clients send 'Authorization: Bearer KEY'), or bind 127.0.0.1")
        if self.parallel < 1:
            raise ValueError(f"--parallel must be at least 1, not {self.parallel}")
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} is outside 0..65535")
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ValueError("CORS origin '*' cannot be combined with named origins")

    @property
    def llm_options(self) -> dict[str, object]:
        """Load options every LLM slot of this server uses."""
        options: dict[str, object] = {}
        if self.n_ctx is not None:
            options["n_ctx"] = self.n_ctx
        if self.parallel > 1:
            options["parallel"] = self.parallel
        if self.chat_format:
            options["chat_format"] = self.chat_format
        return options


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
