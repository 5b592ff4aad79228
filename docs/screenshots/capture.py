"""Take the screenshots in this folder from the real app with real engines (run it under Xvfb).

    xvfb-run -s "-screen 0 1700x1100x24" .venv/bin/python docs/screenshots/capture.py

It uses a fresh data folder: the empty window first, then a chat with the starter model (one finished
answer, one streaming and then stopped), a few recorded runs of the Bayes and vision engines, and the
Chat, Models (the Bayesian networks listed), History (the stopped answer, graphs) and Settings pages at
1600x1000 in the light theme, Chat in the dark theme, and the window at 1280x800. Classify, Bayes and
Compare are taken by ``capture_pages.py``.
"""

from __future__ import annotations

import sys

from screen_session import ROOT, open_window, pump, shoot, start_app

SIZE = (1600, 1000)
SMALL = (1280, 800)


def _record_other_engines() -> None:
    """Real runs of the Bayes and vision engines, so History has more than chat in it."""
    from app.history import History
    from app.recording import run_recorded
    from app.supervisor import start_engine

    history = History()
    try:
        with start_engine("bayes") as bayes:
            bayes.load("alarm")
            for evidence in ({"HRBP": "HIGH", "CO": "LOW"}, {"PRESS": "HIGH"}):
                run_recorded(bayes, "query", {"evidence": evidence}, history=history, engine="bayes",
                             model_id="alarm", device="cpu")
        with start_engine("vision") as vision:
            vision.load("efficientnet-lite0", "cpu", {})
            run_recorded(vision, "classify", {"paths": [str(ROOT / "resources" / "images")], "topk": 5},
                         history=history, engine="vision", model_id="efficientnet-lite0", device="cpu")
    finally:
        history.close()


def main() -> int:
    """Capture every screenshot; returns 0."""
    app = start_app()
    from ui.theme import apply_theme

    window, context = open_window("chat", SIZE)
    pump(1)
    sys.stdout.write(f"window {window.width()}x{window.height()}\n")
    pump(4, lambda: context.devices)
    shoot(window, "window")

    chat = window.open_page("chat")
    pump(30, lambda: chat.model_bar.model_ref())  # type: ignore[attr-defined]
    chat.sampling.set_values({"max_tokens": 220, "temperature": 0.3, "seed": 11})  # type: ignore[attr-defined]
    chat.composer.setPlainText("Write a Python function that checks whether a word is a palindrome, "  # type: ignore[attr-defined]
                               "and explain it in two sentences.")
    chat.send()  # type: ignore[attr-defined]
    pump(240, lambda: chat.state is not None and chat.state.last is not None  # type: ignore[attr-defined]
         and chat.state.last.role == "assistant" and not chat.generating)  # type: ignore[attr-defined]
    chat.composer.setPlainText("Now give three test cases for it as a Markdown table.")  # type: ignore[attr-defined]
    chat.send()  # type: ignore[attr-defined]
    pump(120, lambda: chat._rate.count >= 45)  # type: ignore[attr-defined]
    shoot(window, "chat")
    chat.stop()  # type: ignore[attr-defined]  # History lists this answer as "stopped"
    pump(240, lambda: not chat.generating)  # type: ignore[attr-defined]
    pump(2)

    _record_other_engines()

    models = window.open_page("models")
    models.kind_filter.setCurrentText("bayes")  # type: ignore[attr-defined]
    pump(10, lambda: models.records and all(r.kind == "bayes" for r in models.records))  # type: ignore[attr-defined]
    shoot(window, "models")

    history = window.open_page("history")
    pump(10, lambda: history.model.rowCount() >= 4)  # type: ignore[attr-defined]
    runs = [r for r in history.model.runs if r.get("engine") == "llm" and r.get("status") == "ok"]  # type: ignore[attr-defined]
    if runs:
        history.select_runs([runs[-1]["id"]])  # type: ignore[attr-defined]  # the first, finished answer
        history.detail.detail.tabs.setCurrentIndex(1)  # type: ignore[attr-defined]
        pump(10, lambda: history.detail.detail.graphs.shown)  # type: ignore[attr-defined]
    shoot(window, "history")

    window.open_page("settings")
    pump(10, lambda: window.pages["settings"].facts)  # type: ignore[attr-defined]
    shoot(window, "settings")

    apply_theme(app, "dark")
    window.open_page("chat")  # the open conversation redraws itself for the dark palette
    shoot(window, "chat_dark")
    apply_theme(app, "light")
    window.resize(*SMALL)
    window.open_page("history")
    shoot(window, "window-1280x800")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
