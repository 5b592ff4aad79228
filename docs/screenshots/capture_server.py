"""Take docs/screenshots/server.png: the Server page serving real requests from the real starter model.

    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots/capture_server.py
    (or QT_QPA_PLATFORM=offscreen where there is no Xvfb)

A fresh data folder; the server starts on a free loopback port inside the window, three clients ask at
once (two streaming), and the page is captured while they run and once they are in the log.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIZE = (1400, 880)
MODEL = "smollm2-135m-instruct"


def _client(base: str, prompt: str, stream: bool) -> None:
    import httpx

    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 48,
            "temperature": 0, "stream": stream}
    with httpx.Client(timeout=300) as http:
        if stream:
            with http.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
                for _line in response.iter_lines():
                    pass
        else:
            http.post(f"{base}/v1/chat/completions", json=body)


def main() -> int:
    """Capture server.png; returns 0."""
    home = tempfile.mkdtemp(prefix="workbench-screens-")
    os.environ["WORKBENCH_HOME"] = home
    os.environ["WORKBENCH_SETTINGS"] = str(Path(home) / "settings.ini")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from ui.app import make_settings
    from ui.context import AppContext
    from ui.main_window import MainWindow
    from ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Local AI Workbench")
    apply_theme(app, "light")

    def pump(seconds: float, until: Callable[[], object] | None = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
            if until is not None and until():
                return

    context = AppContext(settings=make_settings())  # type: ignore[arg-type]
    window = MainWindow(context, page="server")
    window.resize(*SIZE)
    window.show()
    page = window.open_page("server")
    page.port.setValue(0)  # type: ignore[attr-defined]
    page.start()  # type: ignore[attr-defined]
    pump(30, lambda: page.address is not None)  # type: ignore[attr-defined]
    base = page.address  # type: ignore[attr-defined]
    first = threading.Thread(target=_client, args=(base, "Hi", False))  # loads the model; then in the log
    first.start()
    while first.is_alive():
        pump(0.1)
    clients = [threading.Thread(target=_client, args=(base, prompt, stream)) for prompt, stream in
               (("Write a haiku about the sea.", True), ("Name three rivers.", True), ("What is 7 * 6?", False))]
    for thread in clients:
        thread.start()
    pump(3.0)  # two streaming at once (or taking turns), one waiting
    window.grab().save(str(HERE / "server.png"))
    sys.stdout.write("saved server\n")
    for thread in clients:
        while thread.is_alive():
            pump(0.1)
    window.close()
    context.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
