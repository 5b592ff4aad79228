"""Run the server: in the foreground (``workbench serve``) or on a background thread (the GUI, tests)."""

from __future__ import annotations

import threading
import time

import uvicorn

from app.service import ModelService
from server.activity import Activity
from server.app import create_app
from server.config import ServerConfig


class ServerThread:
    """A uvicorn server on its own thread; ``start()`` returns once it listens, ``address`` says where."""

    def __init__(self, service: ModelService, config: ServerConfig, activity: Activity | None = None) -> None:
        config.check()
        self.config = config
        self.activity = activity or Activity()
        self.app = create_app(service, config, self.activity)
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=config.host, port=config.port,
                                                     log_level="warning", lifespan="off", access_log=False,
                                                     timeout_graceful_shutdown=3))
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self, timeout: float = 20.0) -> ServerThread:
        """Start listening (raises OSError-like RuntimeError when the port is taken)."""
        self._thread = threading.Thread(target=self._run, name="api-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the server did not start on {self.config.host}:{self.config.port}: "
                                   f"{self.error or 'the address may be in use'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.02)
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except BaseException as exc:  # SystemExit from uvicorn when it cannot bind, too
            self.error = exc

    @property
    def running(self) -> bool:
        """True while it serves."""
        return self._thread is not None and self._thread.is_alive() and self._server.started

    @property
    def port(self) -> int:
        """The bound port (the real one when the config asked for 0)."""
        for server in self._server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.config.port

    @property
    def address(self) -> str:
        """The base URL clients use."""
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening; running requests are cancelled by their disconnect."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
