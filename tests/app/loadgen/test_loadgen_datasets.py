"""Offline datasets: random prompts of exact token lengths, ShareGPT files, the shipped text; tokenizers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.loadgen.config import BenchConfig
from app.loadgen.datasets import DEFAULT_TEXT, DatasetError, build_requests
from app.loadgen.scripted_server import ScriptedServer
from app.loadgen.tokenizer import (
    GgufTokenizer,
    JsonTokenizer,
    ServerTokenizer,
    Tokenizer,
    TokenizerUnavailable,
    close_tokenizer,
    open_tokenizer,
)


def _config(**extra: object) -> BenchConfig:
    settings: dict[str, object] = dict(base_url="http://127.0.0.1:9/v1", model="m", num_prompts=5, input_len=40,
                                       output_len=8, seed=1)
    settings.update(extra)
    return BenchConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def gguf_tokenizer() -> Iterator[Tokenizer]:
    tok = open_tokenizer("smollm2-135m-instruct", "http://127.0.0.1:9", "m")
    assert isinstance(tok, GgufTokenizer)
    yield tok
    close_tokenizer(tok)


@pytest.fixture(scope="module")
def json_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    # A real byte-level BPE tokenizer.json, trained here on the shipped text (no download).
    from tokenizers import Tokenizer as HfTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    hf = HfTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.train([str(DEFAULT_TEXT)], trainers.BpeTrainer(vocab_size=600, show_progress=False))
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    hf.save(str(path))
    tok = open_tokenizer(str(path.parent), "http://127.0.0.1:9", "m")  # a folder holding tokenizer.json
    assert isinstance(tok, JsonTokenizer)
    return tok


@pytest.mark.timeout(60)
@pytest.mark.parametrize("llama_shape", [False, True], ids=["vllm-tokenize", "llama-server-tokenize"])
def test_random_prompts_have_exact_lengths_by_the_server_tokenizer(scripted: Callable[..., ScriptedServer],
                                                                   llama_shape: bool) -> None:
    server = scripted(llama_tokenize=llama_shape)
    tok = open_tokenizer("server", server.url.removesuffix("/v1"), "m")
    assert isinstance(tok, ServerTokenizer)
    try:
        prompts = build_requests(_config(), tok)
        assert [len(tok.encode(p.prompt)) for p in prompts] == [40] * 5
        assert [p.prompt_len for p in prompts] == [40] * 5
        assert [p.output_len for p in prompts] == [8] * 5
        assert build_requests(_config(), tok) == prompts  # seeded
        assert build_requests(_config(seed=2), tok) != prompts
    finally:
        close_tokenizer(tok)


@pytest.mark.timeout(120)
def test_random_prompts_have_exact_lengths_by_a_gguf_vocabulary(gguf_tokenizer: Tokenizer) -> None:
    prompts = build_requests(_config(input_len=64), gguf_tokenizer)
    lengths = [len(gguf_tokenizer.encode(p.prompt)) for p in prompts]
    assert lengths == [64] * 5 == [p.prompt_len for p in prompts]
    assert gguf_tokenizer.source == "gguf:SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.timeout(120)
def test_random_prompts_have_exact_lengths_by_a_tokenizer_json(json_tokenizer: Tokenizer) -> None:
    prompts = build_requests(_config(input_len=50), json_tokenizer)
    assert [len(json_tokenizer.encode(p.prompt)) for p in prompts] == [50] * 5
    assert json_tokenizer.source == "tokenizer.json:" + json_tokenizer.source.split(":", 1)[1]
    assert json_tokenizer.decode(json_tokenizer.encode("And God said")) == "And God said"


def test_random_prompts_need_a_tokenizer() -> None:
    with pytest.raises(DatasetError, match="need a tokenizer"):
        build_requests(_config(), None)


@pytest.mark.timeout(120)
def test_text_excerpts_with_and_without_a_tokenizer(gguf_tokenizer: Tokenizer) -> None:
    with_tok = build_requests(_config(dataset="text", input_len=30), gguf_tokenizer)
    assert [p.prompt_len for p in with_tok] == [30] * 5
    text = " ".join(DEFAULT_TEXT.read_text().split())
    assert all(" ".join(p.prompt.split()[1:-1]) in text for p in with_tok)  # excerpts (ends may be cut)
    words_only = build_requests(_config(dataset="text", input_len=40), None)
    assert all(p.prompt_len == 0 and len(p.prompt.split()) == 30 for p in words_only)
    assert all(p.prompt in text for p in words_only)


def _sharegpt(tmp_path: Path, entries: object) -> str:
    path = tmp_path / "share.json"
    path.write_text(json.dumps(entries))
    return str(path)


@pytest.mark.timeout(60)
def test_sharegpt_prompts_and_reference_lengths(tmp_path: Path, gguf_tokenizer: Tokenizer) -> None:
    convo = [{"conversations": [{"from": "human", "value": f"Question {i}: what is the name of the first day?"},
                                {"from": "gpt", "value": "The first day is called Day, and the night is Night."}]}
             for i in range(4)]
    junk = [{"conversations": [{"from": "human", "value": "only one turn"}]}, {"id": 3}, "text"]
    path = _sharegpt(tmp_path, junk + convo)
    prompts = build_requests(_config(dataset="sharegpt", dataset_path=path, num_prompts=3, output_len=None),
                             gguf_tokenizer)
    assert len(prompts) == 3 and len({p.prompt for p in prompts}) == 3
    answer_len = len(gguf_tokenizer.encode(convo[0]["conversations"][1]["value"]))  # type: ignore[index]
    assert all(p.output_len == answer_len for p in prompts)
    assert all(p.prompt_len == len(gguf_tokenizer.encode(p.prompt)) for p in prompts)
    fixed = build_requests(_config(dataset="sharegpt", dataset_path=path, num_prompts=2, output_len=5), None)
    assert [p.output_len for p in fixed] == [5, 5]


def test_sharegpt_files_that_cannot_work(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="is not JSON"):
        build_requests(_config(dataset="sharegpt", dataset_path=str(bad)), None)
    with pytest.raises(DatasetError, match="no conversation"):
        build_requests(_config(dataset="sharegpt", dataset_path=_sharegpt(tmp_path, [{"x": 1}])), None)
    one = [{"conversations": [{"value": "a b c d e"}, {"value": "f g h i"}]}]
    with pytest.raises(DatasetError, match="1 usable conversations, fewer than the 5"):
        build_requests(_config(dataset="sharegpt", dataset_path=_sharegpt(tmp_path, one)), None)
    with pytest.raises(DatasetError, match="cannot read"):
        build_requests(_config(dataset="sharegpt", dataset_path=str(tmp_path / "missing.json")), None)


def test_tokenizer_specs_that_cannot_work(tmp_path: Path) -> None:
    assert open_tokenizer("none", "http://127.0.0.1:9", "m") is None
    with pytest.raises(TokenizerUnavailable, match="does not answer"):
        open_tokenizer("server", "http://127.0.0.1:9", "m")
    with pytest.raises(TokenizerUnavailable, match="no tokenizer 'no-such-model'"):
        open_tokenizer("no-such-model", "http://127.0.0.1:9", "m")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    with pytest.raises(TokenizerUnavailable, match="cannot read the vocabulary"):
        open_tokenizer(str(broken), "http://127.0.0.1:9", "m")
