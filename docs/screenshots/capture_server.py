"""Take docs/screenshots/server.png: the Server page serving real requests from the real starter model.

    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots/capture_server.py
    (or QT_QPA_PLATFORM=offscreen where there is no Xvfb)

A fresh data folder; the server starts on a free loopback port inside the window, three clients ask at
once (two streaming), and the page is captured while they run and once they are in the log.
"""

from __future__ import annotations

import sys
import threading

from screen_session import open_window, pump, shoot, start_app

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
    start_app()
    window, context = open_window("server", SIZE)
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
    shoot(window, "server", 3.0)  # two streaming at once (or taking turns), one waiting
    for thread in clients:
        while thread.is_alive():
            pump(0.1)
    window.close()
    context.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
