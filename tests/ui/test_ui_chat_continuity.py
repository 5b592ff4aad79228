"""A conversation started in the CLI and continued in the GUI (and back) stores one stats shape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gui_support import STARTER_LLM, make_context, wait_for
from PySide6.QtWidgets import QApplication

from app.conversations import ConversationStore
from ui.chat.page import ChatPage

SHAPE = {"ttft_ms", "gen_tokens_per_s", "gen_tokens", "stop_reason", "context_used", "n_ctx", "run_id"}


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app.cli", "chat", "-m", STARTER_LLM, "--threads", "1",
                           "--ctx", "512", "--temp", "0", "--seed", "3", "--max-tokens", "8", *args],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def _answers(store: ConversationStore, conversation_id: str) -> list[dict[str, object]]:
    return [dict(m.stats) for m in store.path(conversation_id) if m.role == "assistant"]


def test_cli_then_gui_then_cli_keep_one_stats_shape(qapp: QApplication, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _cli(home, "Name a colour.")
    assert first.returncode == 0, first.stderr
    context = make_context(home)
    store = ConversationStore(context.history)
    conversation = store.conversations()[0]
    cli_stats = _answers(store, conversation.id)[0]
    assert cli_stats.keys() >= SHAPE
    assert isinstance(cli_stats["context_used"], int) and isinstance(cli_stats["n_ctx"], int)

    page = ChatPage(context)
    page.show()
    try:
        wait_for(lambda: page.model_bar.model_ref() == STARTER_LLM, 30, "the model list")
        page.open_conversation(conversation.id)
        wait_for(lambda: page.state is not None and page.state.id == conversation.id, 30, "the conversation")
        assert page.context_label.text() == f"context: {cli_stats['context_used']} / {cli_stats['n_ctx']} tokens " \
            f"({100 * int(cli_stats['context_used']) / int(cli_stats['n_ctx']):.0f} %)"
        page.sampling.set_values({"max_tokens": 8, "seed": 3, "temperature": 0.0})
        page.model_bar.n_ctx.setValue(512)
        page.composer.setPlainText("And another one?")
        page.send_button.click()
        wait_for(lambda: page.generating, 60, "the request")
        wait_for(lambda: not page.generating, 300, "the answer")
        wait_for(lambda: len(_answers(store, conversation.id)) == 2, 30, "the stored answer")
    finally:
        page.shutdown()
    gui_stats = _answers(store, conversation.id)[1]
    assert gui_stats.keys() == cli_stats.keys()
    assert all(type(gui_stats[k]) is type(cli_stats[k]) for k in ("context_used", "n_ctx", "gen_tokens"))
    assert int(gui_stats["context_used"]) > int(cli_stats["context_used"])  # the context grew

    third = _cli(home, "--conversation", conversation.id, "One more?")
    assert third.returncode == 0, third.stderr
    back = _answers(store, conversation.id)[2]
    assert back.keys() == cli_stats.keys() and int(back["context_used"]) > int(gui_stats["context_used"])
    context.shutdown()
