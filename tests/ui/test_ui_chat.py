"""The Chat page with the real starter model in a real worker: streaming, stop, branches, crash + restart."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_support import STARTER_LLM, shown_page, wait_for
from PySide6.QtWidgets import QApplication

from ui.chat.markdown import render_markdown, split_fences
from ui.chat.page import ChatPage
from ui.chat.stats import TokenRate, answer_stats, context_text, stats_line

SHORT = {"max_tokens": 16, "seed": 7, "temperature": 0.0}


# --- pure helpers (no Qt) -------------------------------------------------------------------------
def test_markdown_highlights_code_and_escapes_html() -> None:
    html = render_markdown("Use **this**: <script>x</script>\n```python\ndef f():\n    return 1 < 2\n```")
    assert "<strong>this</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'bgcolor="#f4f6f8"' in html  # the code block box
    assert "def</span>" in html and "&lt;" in html  # pygments spans, and '<' in code escaped


def test_unclosed_fence_streams_as_code() -> None:
    segments = split_fences("intro\n```js\nlet a = 1;")
    assert [s.code for s in segments] == [False, True]
    assert segments[1].language == "js" and not segments[1].closed
    assert "js …" in render_markdown("intro\n```js\nlet a = 1;")


def test_token_rate_and_stats_line() -> None:
    rate = TokenRate(window=4)
    rate.reset(10.0)
    assert rate.add(10.5) == (0.5, 500.0, None)  # the first token: TTFT, no rate yet
    elapsed, latency, tokens_per_s = rate.add(10.6)
    assert elapsed == pytest.approx(0.6) and latency == pytest.approx(100.0) and tokens_per_s == pytest.approx(10.0)
    stats = answer_stats({"metrics": {"ttft_ms": 212.4, "gen_tokens_per_s": 35.06}, "gen_tokens": 87,
                          "stop_reason": "cancelled", "context_used": 300, "n_ctx": 4096}, "run1")
    assert stats_line(stats) == "TTFT 212 ms · 35.1 tok/s · 87 tokens · stopped"
    assert stats["run_id"] == "run1" and stats["context_used"] == 300
    assert context_text(300, 4096) == "context: 300 / 4096 tokens (7 %)"


# --- the page with a real model ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def chat(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatPage]:
    """One Chat page with the starter model loaded once for the whole module."""
    with shown_page(ChatPage, tmp_path_factory.mktemp("chat"), (1200, 800)) as page:
        wait_for(lambda: page.model_bar.model_ref() == STARTER_LLM, 30, "the model list")
        page.load_model()
        wait_for(lambda: page.session.is_loaded and not page.session.busy, 120, "the model to load")
        yield page


def _ask(page: ChatPage, text: str, **sampling: object) -> None:
    page.sampling.set_values({**SHORT, **sampling})
    page.composer.setPlainText(text)
    page.send_button.click()
    wait_for(lambda: page.generating, 30, "the request to start")


def _answered(page: ChatPage, timeout: float = 120) -> None:
    wait_for(lambda: not page.generating, timeout, "the answer")
    wait_for(lambda: page.state is not None and page.state.last is not None
             and page.state.last.role == "assistant", 30, "the answer to be stored")


def test_loaded_model_shows_fit_and_context(chat: ChatPage) -> None:
    status = chat.model_bar.status.text()
    assert "loaded in" in status and "GiB" in status and "fits in RAM" in status
    assert chat.session.model_info["n_ctx"] > 0


def test_message_streams_and_is_stored_with_stats(chat: ChatPage) -> None:
    chat.new_chat()
    wait_for(lambda: chat.state is not None and not chat.state.messages, 10, "a new conversation")
    _ask(chat, "Say hello in one short sentence.")
    wait_for(lambda: chat.view.stream_text, 60, "streamed text")
    assert chat.view.streaming
    _answered(chat)
    assert chat.last_outcome is not None and chat.last_outcome.status == "ok"
    answer = chat.state.last
    assert answer.content.strip() and answer.model_id == STARTER_LLM
    assert answer.stats["gen_tokens"] > 0 and answer.stats["ttft_ms"] > 0 and answer.stats["gen_tokens_per_s"] > 0
    assert "TTFT" in chat.view.toPlainText() and "tok/s" in chat.view.toPlainText()
    assert "context:" in chat.context_label.text() and "/ " in chat.context_label.text()
    run = chat.context.history.get_run(answer.stats["run_id"])
    assert run["status"] == "ok" and run["engine"] == "llm" and run["metrics"]["gen_tokens"] > 0
    # One point per streamed token after the first; an end-of-generation token is counted but not streamed.
    streamed = answer.stats["gen_tokens"] - (run["result"]["stop_reason"] == "eos")
    assert chat.plot is not None and len(chat.plot.buffers["latency ms"]) == streamed - 1
    # Redrawn at a fixed rate from buffers, not once per token.
    assert chat.plot.redraw_count <= max(answer.stats["e2e_ms"] / 100 + 3, 3)


def test_stop_keeps_the_partial_answer(chat: ChatPage) -> None:
    _ask(chat, "Tell me a long story about a lighthouse keeper.", max_tokens=400, temperature=0.7)
    wait_for(lambda: chat._rate.count >= 4, 60, "a few tokens")
    chat.stop_button.click()
    _answered(chat, 30)
    answer = chat.state.last
    assert answer.stats["stop_reason"] == "cancelled"
    assert 0 < answer.stats["gen_tokens"] < 400
    assert answer.content.strip()
    assert "stopped" in chat.view.toPlainText()


def test_regenerate_makes_a_branch_and_branches_switch(chat: ChatPage) -> None:
    before = chat.state.last
    chat.regenerate(before.id)
    wait_for(lambda: chat.generating, 30, "regeneration to start")
    _answered(chat)
    after = chat.state.last
    assert after.id != before.id and set(after.siblings) >= {before.id, after.id}
    assert after.branch_index == len(after.siblings)
    chat.switch_branch(before.id)
    wait_for(lambda: chat.state.last.id == before.id, 10, "the old branch")


def test_editing_an_earlier_message_branches(chat: ChatPage) -> None:
    question = next(m for m in chat.state.messages if m.role == "user")
    chat.start_edit(question.id)
    assert chat.edit_note.isVisibleTo(chat) and chat.composer.toPlainText() == question.content
    chat.sampling.set_values(SHORT)
    chat.composer.setPlainText("Say goodbye in one short sentence.")
    chat.send()
    wait_for(lambda: chat.generating, 30, "the edited request")
    _answered(chat)
    first = chat.state.messages[0]
    assert first.content == "Say goodbye in one short sentence." and len(first.siblings) == 2
    assert question.id in first.siblings
    assert chat.state.branch_count >= 3


def test_conversations_rename_search_export_delete(chat: ChatPage, tmp_path: Path) -> None:
    conversation_id = chat.conversation_id
    assert conversation_id is not None
    chat.rename_conversation(conversation_id, "Greetings")
    wait_for(lambda: any("Greetings" in chat.conversations.list.item(i).text()
                         for i in range(chat.conversations.list.count())), 10, "the renamed title")
    chat.conversations.search.setText("goodbye")
    wait_for(lambda: chat.conversations.ids() == [conversation_id], 10, "the search result")
    chat.conversations.search.setText("no conversation says this")
    wait_for(lambda: chat.conversations.ids() == [], 10, "an empty search")
    chat.conversations.search.setText("")
    wait_for(lambda: len(chat.conversations.ids()) >= 1, 10, "the full list")
    markdown, exported = tmp_path / "chat.md", tmp_path / "chat.json"
    chat.export_conversation(conversation_id, str(markdown), "markdown")
    wait_for(lambda: chat.last_export == str(markdown), 10, "the Markdown export")
    chat.export_conversation(conversation_id, str(exported), "json")
    wait_for(lambda: chat.last_export == str(exported), 10, "the JSON export")
    assert markdown.read_text().startswith("# Greetings") and "**Assistant**" in markdown.read_text()
    data = json.loads(exported.read_text())
    assert data["conversation"]["title"] == "Greetings" and len(data["messages"]) >= 6
    # A throwaway conversation is deleted; the one we worked in stays.
    chat.new_chat()
    wait_for(lambda: chat.conversation_id not in (None, conversation_id), 10, "a new conversation")
    spare = chat.conversation_id
    chat.delete_conversation(spare)
    wait_for(lambda: chat.state is None and spare not in chat.conversations.ids(), 10, "the deletion")
    assert conversation_id in chat.conversations.ids()
    chat.open_conversation(conversation_id)
    wait_for(lambda: chat.conversation_id == conversation_id, 10, "the conversation to reopen")


def test_killed_worker_shows_reason_and_restarts(chat: ChatPage) -> None:
    messages_before = [m.id for m in chat.state.messages]
    _ask(chat, "Count from one to fifty in words.", max_tokens=300)
    wait_for(lambda: chat._rate.count >= 2, 60, "tokens before the kill")
    pid = chat.session.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: chat.restart_button.isVisibleTo(chat) and not chat.generating, 30, "the crash banner")
    assert "The chat worker stopped" in chat.banner_text.text() and "SIGKILL" in chat.banner_text.text()
    # The conversation is intact: the question is stored, nothing before it was lost.
    wait_for(lambda: chat.state is not None, 5, "state")
    # The conversation is intact and the answer so far is kept, marked as interrupted (issue: crash loses it).
    wait_for(lambda: chat.state is not None and chat.state.last is not None
             and chat.state.last.stats.get("stop_reason") == "crashed", 30, "the interrupted answer")
    stored = chat.store.path(chat.conversation_id)
    assert [m.id for m in stored][: len(messages_before)] == messages_before
    assert stored[-2].role == "user" and stored[-2].content == "Count from one to fifty in words."
    assert stored[-1].role == "assistant" and stored[-1].content.strip()
    assert stored[-1].stats["interrupted"] == "interrupted: worker crashed"
    assert "worker crashed" in chat.view.toPlainText()
    chat.restart_button.click()
    wait_for(lambda: chat.session.is_loaded and not chat.session.busy, 120, "the restarted worker")
    wait_for(lambda: not chat.banner.isVisibleTo(chat), 10, "the banner to go")
    assert chat.session.worker_pid != pid
    # Regenerate the answer that was cut short: a new branch under the same question.
    chat.sampling.set_values(SHORT)
    chat.regenerate_last()
    wait_for(lambda: chat.generating, 30, "the retry")
    _answered(chat)
    assert chat.state.last.role == "assistant" and chat.state.messages[-2].content.startswith("Count")


def test_theme_switch_redraws_the_open_conversation(chat: ChatPage) -> None:
    from ui.theme import apply_theme

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    if chat.state is None or not chat.state.messages:
        _ask(chat, "Say hi.")
        _answered(chat)
    try:
        apply_theme(app, "light")
        wait_for(lambda: "#eaf1ff" in chat.view.toHtml().lower(), 10, "the light bubbles")
        apply_theme(app, "dark")
        # The open conversation is drawn again in the dark colours, without opening another one.
        wait_for(lambda: "#24324a" in chat.view.toHtml().lower(), 10, "the dark bubbles")
        assert "#eaf1ff" not in chat.view.toHtml().lower()
    finally:
        apply_theme(app, "light")


def test_model_bar_names_the_registry_model_and_says_loaded(chat: ChatPage) -> None:
    wait_for(lambda: chat.session.is_loaded and not chat.session.busy, 120, "the model")
    chat._refresh_load_button()
    assert chat.model_bar.load_button.text() == "Loaded"
    assert chat.model_bar.status.text().startswith(STARTER_LLM)
    assert chat.model_bar.n_ctx.specialValueText() == "auto"
    label = next(w for w in chat.model_bar.findChildren(type(chat.context_label)) if w.text() == "Context")
    assert label.buddy() is chat.model_bar.n_ctx


def test_the_window_starts_from_the_engines_sampling_defaults() -> None:
    from engines.llm.sampling import SamplingParams
    from ui.chat.controls import SAMPLING_DEFAULTS

    engine = SamplingParams()
    for name in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens"):
        assert SAMPLING_DEFAULTS[name] == getattr(engine, name), name
