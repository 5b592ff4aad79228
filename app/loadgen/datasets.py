"""Benchmark prompts, offline: random tokens of exact lengths, a user's ShareGPT JSON, or the shipped text."""

from __future__ import annotations

import json
import random
from pathlib import Path

from app.loadgen.config import BenchConfig
from app.loadgen.records import RequestInput
from app.loadgen.tokenizer import Tokenizer

TEXTS = Path(__file__).resolve().parents[2] / "resources" / "texts"
DEFAULT_TEXT = TEXTS / "kjv-genesis.txt"  # public domain; see resources/texts/README.md


class DatasetError(ValueError):
    """The dataset cannot be built; the message says why."""


def shipped_text() -> str:
    """The public-domain text shipped in resources/texts/."""
    return DEFAULT_TEXT.read_text(encoding="utf-8")


def exact_length_prompt(tok: Tokenizer, ids: list[int], target: int, rng: random.Random, pool: list[int],
                        tries: int = 10) -> tuple[str, int]:
    """Decode ``ids`` and re-tokenize until the text is exactly ``target`` tokens (vLLM's random dataset).

    Decoding then encoding can merge or split tokens, so the ids are trimmed or topped up with more random
    ids and tried again; after ``tries`` the closest text is kept with its true length.
    """
    text, length = "", 0
    for _ in range(tries):
        text = tok.decode(ids)
        again = tok.encode(text)
        length = len(again)
        if length == target:
            return text, length
        ids = again[:target] if length > target else again + [rng.choice(pool) for _ in range(target - length)]
    return text, length


def _token_pool(tok: Tokenizer) -> list[int]:
    # Ids drawn from the shipped text's tokens rather than the whole vocabulary: no control or byte tokens,
    # which decode to text that re-tokenizes unpredictably, and it works where only /tokenize is known.
    pool = sorted(set(tok.encode(shipped_text()[:60_000])))
    if len(pool) < 16:
        raise DatasetError(f"the tokenizer ({tok.source}) gives too few distinct ids for random prompts")
    return pool


def random_dataset(config: BenchConfig, tok: Tokenizer | None) -> list[RequestInput]:
    """``num_prompts`` prompts of exactly ``input_len`` tokens of random ids (seeded)."""
    if tok is None:
        raise DatasetError("random prompts of exact token lengths need a tokenizer: the server's /tokenize, "
                           "--tokenizer FILE.gguf, a tokenizer.json or a model id")
    rng = random.Random(config.seed)
    pool = _token_pool(tok)
    out = []
    for _ in range(config.num_prompts):
        ids = [rng.choice(pool) for _ in range(config.input_len)]
        text, length = exact_length_prompt(tok, ids, config.input_len, rng, pool)
        out.append(RequestInput(text, length, config.output_len or 64))
    return out


def text_dataset(config: BenchConfig, tok: Tokenizer | None) -> list[RequestInput]:
    """Excerpts of the shipped text from seeded offsets: ``input_len`` tokens each with a tokenizer, else
    about that many words (the server's usage then gives the true prompt length)."""
    text = shipped_text()
    rng = random.Random(config.seed)
    words = text.split()
    out = []
    for _ in range(config.num_prompts):
        start = rng.randrange(0, max(1, len(words) - 4 * config.input_len))
        excerpt = " ".join(words[start:start + 2 * config.input_len])
        if tok is not None:
            ids = tok.encode(excerpt)
            prompt, length = exact_length_prompt(tok, ids[: config.input_len], config.input_len, rng, ids)
        else:
            prompt, length = " ".join(words[start:start + max(1, config.input_len * 3 // 4)]), 0
        out.append(RequestInput(prompt, length, config.output_len or 64))
    return out


def sharegpt_dataset(config: BenchConfig, tok: Tokenizer | None) -> list[RequestInput]:
    """Conversations from a ShareGPT-format JSON (a list of {"conversations": [{"from", "value"}, ...]}).

    Like vLLM: the first turn is the prompt, the second the reference completion whose token count is the
    output length unless ``output_len`` is set; entries are shuffled with the seed and, with a tokenizer,
    too-short (< 4 tokens) or too-long (prompt > 1024, prompt + output > 2048) pairs are skipped.
    """
    path = Path(config.dataset_path or "")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the ShareGPT file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise DatasetError(f"{path} is not a ShareGPT list of conversations")
    pairs = []
    for entry in entries:
        turns = entry.get("conversations") if isinstance(entry, dict) else None
        if isinstance(turns, list) and len(turns) >= 2 and all(isinstance(t, dict) for t in turns[:2]):
            prompt, answer = turns[0].get("value"), turns[1].get("value")
            if isinstance(prompt, str) and isinstance(answer, str) and prompt.strip():
                pairs.append((prompt, answer))
    if not pairs:
        raise DatasetError(f"{path} holds no conversation with at least two turns")
    random.Random(config.seed).shuffle(pairs)
    out: list[RequestInput] = []
    for prompt, answer in pairs:
        if len(out) == config.num_prompts:
            break
        if tok is None:
            out.append(RequestInput(prompt, 0, config.output_len or 0))
            continue
        prompt_len = len(tok.encode(prompt))
        output_len = config.output_len or len(tok.encode(answer))
        if prompt_len < 4 or output_len < 4 or prompt_len > 1024 or prompt_len + output_len > 2048:
            continue
        out.append(RequestInput(prompt, prompt_len, output_len))
    if len(out) < config.num_prompts:
        raise DatasetError(f"{path} has {len(out)} usable conversations, fewer than the {config.num_prompts} asked")
    return out


def build_requests(config: BenchConfig, tok: Tokenizer | None) -> list[RequestInput]:
    """The prompts of ``config.dataset``."""
    builders = {"random": random_dataset, "text": text_dataset, "sharegpt": sharegpt_dataset}
    return builders[config.dataset](config, tok)
