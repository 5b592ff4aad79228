"""Tokenizers for counting output tokens and sizing prompts: the server's ``/tokenize``, a GGUF's vocabulary
(llama.cpp, vocabulary only), or a Hugging Face ``tokenizer.json``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import httpx


class TokenizerUnavailable(RuntimeError):
    """The asked-for tokenizer cannot be used; the message says why."""


class Tokenizer(Protocol):
    """Encodes text to token ids (no special tokens added) and back."""

    source: str  # how results name it: "server /tokenize", "gguf:<file>", "tokenizer.json:<file>"

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without BOS or other special tokens."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``."""
        ...


class ServerTokenizer:
    """The endpoint's own ``/tokenize`` and ``/detokenize``: vLLM's shape and llama-server's in one body."""

    source = "server /tokenize"

    def __init__(self, root_url: str, model: str, api_key: str | None = None, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=root_url, headers=headers, timeout=timeout_s)
        self._model = model

    def encode(self, text: str) -> list[int]:
        """POST /tokenize -> {"tokens": [...]}; vLLM reads "prompt", llama-server "content"."""
        reply = self._client.post("/tokenize", json={"model": self._model, "prompt": text, "content": text,
                                                     "add_special_tokens": False, "add_special": False})
        reply.raise_for_status()
        tokens = reply.json()["tokens"]
        # llama-server may answer pieces ({"id", "piece"}) when asked; plain ids otherwise.
        return [int(t["id"]) if isinstance(t, dict) else int(t) for t in tokens]

    def decode(self, ids: Sequence[int]) -> str:
        """POST /detokenize {"model", "tokens"} -> {"prompt"} (vLLM) or {"content"} (llama-server)."""
        reply = self._client.post("/detokenize", json={"model": self._model, "tokens": list(ids)})
        reply.raise_for_status()
        payload = reply.json()
        return str(payload.get("prompt", payload.get("content", "")))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


class GgufTokenizer:
    """The vocabulary of a GGUF file through llama.cpp (loaded with ``vocab_only``: no weights)."""

    def __init__(self, path: Path) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise TokenizerUnavailable(f"llama-cpp-python is needed to read {path.name}'s vocabulary: {exc}") from None
        try:
            self._llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise TokenizerUnavailable(f"cannot read the vocabulary of {path}: {exc}") from None
        self.source = f"gguf:{path.name}"

    def encode(self, text: str) -> list[int]:
        """llama.cpp's tokenizer, no BOS, special tokens as plain text."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def decode(self, ids: Sequence[int]) -> str:
        """llama.cpp's detokenizer."""
        return self._llm.detokenize(list(ids)).decode("utf-8", errors="replace")

    def close(self) -> None:
        """Free the vocabulary."""
        self._llm.close()


class JsonTokenizer:
    """A Hugging Face ``tokenizer.json`` through the ``tokenizers`` package."""

    def __init__(self, path: Path) -> None:
        try:
            from tokenizers import Tokenizer as HfTokenizer
        except ImportError:
            raise TokenizerUnavailable("the 'tokenizers' package is needed for a tokenizer.json "
                                       "(pip install tokenizers), or pass the model's GGUF instead") from None
        try:
            self._tok = HfTokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises its own Exception type for a bad file
            raise TokenizerUnavailable(f"cannot read {path}: {exc}") from None
        self.source = f"tokenizer.json:{path.parent.name}/{path.name}"

    def encode(self, text: str) -> list[int]:
        """Ids without special tokens."""
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        """Text, special tokens skipped."""
        return str(self._tok.decode(list(ids), skip_special_tokens=True))

    def close(self) -> None:
        """Nothing to release."""


def _server_tokenizer(root_url: str, model: str, api_key: str | None) -> ServerTokenizer:
    tok = ServerTokenizer(root_url, model, api_key)
    try:
        probe = tok.encode("In the beginning")
    except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
        tok.close()
        raise TokenizerUnavailable(f"{root_url}/tokenize does not answer: {exc}") from None
    if not probe:  # a server that read neither "prompt" nor "content"
        tok.close()
        raise TokenizerUnavailable(f"{root_url}/tokenize answered no tokens for a plain sentence")
    return tok


def open_tokenizer(spec: str | None, root_url: str, model: str, api_key: str | None = None) -> Tokenizer | None:
    """The tokenizer ``spec`` names; None when ``spec`` is "none", or "auto"/None and the server has no
    ``/tokenize``. A ``.gguf`` path, a ``tokenizer.json`` (or a folder with one), "server", or a model id the
    workbench knows (its GGUF is read)."""
    if spec in (None, "", "auto"):
        try:
            return _server_tokenizer(root_url, model, api_key)
        except TokenizerUnavailable:
            return None
    if spec == "none":
        return None
    if spec == "server":
        return _server_tokenizer(root_url, model, api_key)
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "tokenizer.json").is_file():
        path = path / "tokenizer.json"
    if not path.exists():
        from app.model_refs import UnknownModel, resolve_model_ref

        try:
            path = resolve_model_ref(spec, "llm")
        except UnknownModel as exc:
            raise TokenizerUnavailable(f"no tokenizer {spec!r}: not a file, and {exc}") from None
    if path.suffix == ".json":
        return JsonTokenizer(path)
    if path.suffix == ".gguf" or path.is_file():
        return GgufTokenizer(path)
    raise TokenizerUnavailable(f"{path} is neither a .gguf nor a tokenizer.json")


def close_tokenizer(tok: Tokenizer | None) -> None:
    """Release what a tokenizer holds."""
    close = getattr(tok, "close", None)
    if close is not None:
        close()
