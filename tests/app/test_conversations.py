"""The conversation store on a real SQLite history: tree, branches, search, export."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.conversations import ConversationNotFound, ConversationStore
from app.history import History


@pytest.fixture
def store(history_path: str) -> Iterator[ConversationStore]:
    history = History(history_path)
    yield ConversationStore(history)
    history.close()


def test_linear_conversation_keeps_order_title_and_context(store: ConversationStore) -> None:
    conv = store.create(model_id="smollm2", system_prompt="Be brief.")
    store.append(conv.id, "user", "What is the capital of France?")
    answer = store.append(conv.id, "assistant", "Paris.", model_id="smollm2",
                          params={"temperature": 0.2}, stats={"ttft_ms": 12.5, "gen_tokens": 2})
    store.append(conv.id, "user", "And of Italy?")

    stored = store.get(conv.id)
    assert stored.title == "What is the capital of France?"
    assert [m["role"] for m in store.context(conv.id)] == ["system", "user", "assistant", "user"]
    assert store.context(conv.id)[0]["content"] == "Be brief."
    assert store.message(answer.id).params == {"temperature": 0.2}
    assert store.message(answer.id).stats["gen_tokens"] == 2


def test_edit_creates_branch_and_keeps_the_old_one(store: ConversationStore) -> None:
    conv = store.create()
    first_q = store.append(conv.id, "user", "Name a fruit.")
    first_a = store.append(conv.id, "assistant", "Apple.")
    store.append(conv.id, "user", "Another?")
    store.append(conv.id, "assistant", "Banana.")

    edited = store.edit(first_q.id, "Name a vegetable.")
    assert edited.parent_id is None and edited.meta["edited_from"] == first_q.id
    store.append(conv.id, "assistant", "Carrot.")

    assert [m.content for m in store.path(conv.id)] == ["Name a vegetable.", "Carrot."]
    assert [m.content for m in store.siblings(first_q.id)] == ["Name a fruit.", "Name a vegetable."]
    branches = store.branches(conv.id)
    assert len(branches) == 2
    assert [b.active for b in branches] == [False, True]
    assert sorted(b.messages for b in branches) == [2, 4]

    # Switching to the old branch follows it down to its leaf.
    path = store.switch(conv.id, first_a.id)
    assert [m.content for m in path] == ["Name a fruit.", "Apple.", "Another?", "Banana."]
    assert store.get(conv.id).active_leaf_id == path[-1].id


def test_regenerate_adds_a_sibling_answer(store: ConversationStore) -> None:
    conv = store.create()
    question = store.append(conv.id, "user", "Say hi.")
    old = store.append(conv.id, "assistant", "Hi!")
    parent = store.regenerate_parent(old.id)
    assert parent == question.id
    new = store.append(conv.id, "assistant", "Hello there!", parent_id=parent)
    assert [m.id for m in store.siblings(new.id)] == [old.id, new.id]
    assert [m.content for m in store.path(conv.id)] == ["Say hi.", "Hello there!"]
    with pytest.raises(ValueError, match="assistant"):
        store.regenerate_parent(question.id)


def test_list_search_rename_delete(store: ConversationStore) -> None:
    a = store.create()
    store.append(a.id, "user", "Tell me about 100% rye bread")
    b = store.create("Physics notes")
    store.append(b.id, "user", "What is entropy?")

    assert [c.id for c in store.conversations()] == [b.id, a.id]
    assert [c.id for c in store.search("entropy")] == [b.id]
    assert [c.id for c in store.search("physics")] == [b.id]
    assert [c.id for c in store.search("100%")] == [a.id]
    assert store.search("_") == []  # LIKE wildcards are matched literally

    store.rename(a.id, "Bread")
    assert store.get(a.id).title == "Bread"
    store.append(a.id, "user", "More?")  # a user title is not replaced by the auto title
    assert store.get(a.id).title == "Bread"

    store.delete(a.id)
    with pytest.raises(ConversationNotFound):
        store.get(a.id)
    assert store.messages(a.id) == []


def test_update_message_stats_and_settings(store: ConversationStore) -> None:
    conv = store.create(settings={"temperature": 0.7})
    store.append(conv.id, "user", "Hi")
    answer = store.append(conv.id, "assistant", "Hello")
    store.update_message(answer.id, stats={"gen_tokens_per_s": 35.0}, run_id="run-1")
    assert store.message(answer.id).stats == {"gen_tokens_per_s": 35.0}
    assert store.message(answer.id).run_id == "run-1"
    updated = store.update(conv.id, settings={"top_k": 40}, system_prompt="Short answers.")
    assert updated.settings == {"temperature": 0.7, "top_k": 40}
    assert updated.system_prompt == "Short answers."


def test_bad_input_is_refused(store: ConversationStore) -> None:
    conv = store.create()
    other = store.create()
    foreign = store.append(other.id, "user", "elsewhere")
    with pytest.raises(ValueError, match="role"):
        store.append(conv.id, "robot", "beep")
    with pytest.raises(ValueError, match="another conversation"):
        store.append(conv.id, "user", "x", parent_id=foreign.id)
    with pytest.raises(ConversationNotFound):
        store.append("missing", "user", "x")


def test_export_markdown_and_json(store: ConversationStore) -> None:
    conv = store.create("Greetings", model_id="smollm2-135m-instruct", system_prompt="Be kind.")
    q = store.append(conv.id, "user", "Hello?")
    store.append(conv.id, "assistant", "Hi, how can I help?", model_id="smollm2-135m-instruct",
                 stats={"ttft_ms": 150.0, "gen_tokens_per_s": 34.2, "gen_tokens": 7, "stop_reason": "eos"})
    store.edit(q.id, "Good morning?")

    markdown = store.export_markdown(conv.id)
    assert markdown.startswith("# Greetings\n")
    assert "**System**" in markdown and "Be kind." in markdown
    assert "Good morning?" in markdown and "Hello?" not in markdown  # only the active branch

    old_leaf = store.leaves(conv.id)[0]
    old_branch = store.export_markdown(conv.id, old_leaf.id)
    assert "**Assistant** · `smollm2-135m-instruct`" in old_branch
    assert "TTFT 150.0 ms" in old_branch and "34.2 tok/s" in old_branch and "stop: eos" in old_branch

    exported = json.loads(json.dumps(store.export_json(conv.id)))
    assert exported["conversation"]["title"] == "Greetings"
    assert len(exported["messages"]) == 3  # every branch
    assert len(exported["active_path"]) == 1
    assert {m["content"] for m in exported["messages"]} == {"Hello?", "Hi, how can I help?", "Good morning?"}


def test_survives_reopening_the_database(history_path: str) -> None:
    history = History(history_path)
    store = ConversationStore(history)
    conv = store.create()
    store.append(conv.id, "user", "persist me")
    history.close()

    reopened = History(history_path)
    try:
        again = ConversationStore(reopened)
        assert [m.content for m in again.path(conv.id)] == ["persist me"]
    finally:
        reopened.close()
