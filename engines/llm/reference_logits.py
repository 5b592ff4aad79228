"""The reference model's scored positions, stored compactly so other models are compared without reloading it.

llama-perplexity's ``--kl-divergence-base`` file keeps every log-probability (2 bytes x vocabulary per
token: 96 KiB a token for SmolLM2's 49,152 tokens). We keep, per scored position, the reference's top-k token
ids and log-probabilities (8 bytes each) and its negative log-likelihood of the true next token: with k=64
about 516 bytes a token, 190x smaller, and the probability left outside the top k is implied (one minus
their sum). The evaluation tokens are stored too, so every compared model scores exactly the same text.

Format: an uncompressed ``.npz`` (no pickles) with ``meta`` (JSON text), ``tokens`` (int32, chunks x ctx),
``nll`` (float32), ``top_ids`` (int32, scored x k) and ``top_log_probs`` (float32, scored x k).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engines.base import EngineError, ErrorKind

FORMAT_VERSION = 1


@dataclass
class ReferenceLogits:
    """What a reference run leaves for the runs compared with it."""

    meta: dict[str, Any]
    tokens: npt.NDArray[np.int32]
    nll: npt.NDArray[np.float32]
    top_ids: npt.NDArray[np.int32]
    top_log_probs: npt.NDArray[np.float32]

    @property
    def n_ctx(self) -> int:
        """The chunk length the reference was scored with."""
        return int(self.meta["n_ctx"])

    @property
    def n_chunks(self) -> int:
        """How many chunks were scored."""
        return int(self.meta["n_chunks"])

    @property
    def per_chunk(self) -> int:
        """Scored positions per chunk (the second half, less the last token that has no successor)."""
        return self.n_ctx - 1 - self.n_ctx // 2

    def chunk(self, index: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """(nll, top ids, top log-probs) of chunk ``index``."""
        rows = slice(index * self.per_chunk, (index + 1) * self.per_chunk)
        return self.nll[rows], self.top_ids[rows], self.top_log_probs[rows]

    def save(self, path: str | Path) -> int:
        """Write atomically (a half-written cache must never be read as a reference); returns its size."""
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        meta = {**self.meta, "format": FORMAT_VERSION}
        with partial.open("wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)), tokens=self.tokens, nll=self.nll,
                     top_ids=self.top_ids, top_log_probs=self.top_log_probs)
        os.replace(partial, target)
        return target.stat().st_size


def load_reference(path: str | Path) -> ReferenceLogits:
    """Read a reference file written by :meth:`ReferenceLogits.save`; anything else is a clear BAD_INPUT."""
    source = Path(path)
    if not source.is_file():
        raise EngineError(ErrorKind.NOT_FOUND, f"no reference logits at {source}")
    try:
        with np.load(source, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            reference = ReferenceLogits(meta, data["tokens"].astype(np.int32), data["nll"].astype(np.float32),
                                        data["top_ids"].astype(np.int32),
                                        data["top_log_probs"].astype(np.float32))
    except (OSError, ValueError, KeyError) as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"{source.name} is not a reference-logits file: {exc}") from exc
    if meta.get("format") != FORMAT_VERSION:
        raise EngineError(ErrorKind.BAD_INPUT, f"{source.name} has reference format {meta.get('format')!r}; "
                          f"this workbench reads {FORMAT_VERSION} (delete it to recompute)")
    expected = reference.n_chunks * reference.per_chunk
    if reference.tokens.size != reference.n_chunks * reference.n_ctx or reference.nll.size != expected:
        raise EngineError(ErrorKind.BAD_INPUT, f"{source.name} is truncated or inconsistent")
    return reference
