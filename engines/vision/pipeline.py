"""Decode and preprocess images on threads, ahead of inference, and hand them over in batches.

Pillow's decoders and resizers and numpy release the GIL for their heavy parts, so a few decode threads
overlap inference of the current batch.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.vision.decode import decode_image
from engines.vision.preprocess import PreprocessConfig, preprocess


@dataclass
class Prepared:
    """One image ready for inference, or the reason it is not."""

    index: int
    path: Path
    array: np.ndarray | None = None
    decode_ms: float = 0.0
    preprocess_ms: float = 0.0
    size: tuple[int, int] | None = None  # width, height in the file
    mode: str = ""
    notes: list[str] = field(default_factory=list)
    error_kind: str = ""
    error: str = ""

    def failure(self) -> dict[str, str]:
        """Why this file could not be classified, as the ops' ``errors`` list holds it."""
        return {"path": str(self.path), "kind": self.error_kind, "error": self.error}

    @property
    def ok(self) -> bool:
        """True when the image can be classified."""
        return self.array is not None


def prepare(index: int, path: Path, config: PreprocessConfig, fast_decode: bool = True) -> Prepared:
    """Decode and preprocess one file; every failure becomes a per-file error, never an exception."""
    item = Prepared(index, path)
    try:
        decoded = decode_image(path, draft_size=config.resize_size if fast_decode else None)
        item.decode_ms, item.size, item.mode, item.notes = (decoded.decode_ms, (decoded.width, decoded.height),
                                                            decoded.mode, decoded.notes)
        item.array, item.preprocess_ms = preprocess(decoded.image, config)
    except EngineError as exc:
        item.error_kind, item.error = exc.kind.value, exc.message
    except MemoryError:
        item.error_kind, item.error = ErrorKind.OUT_OF_MEMORY.value, f"{path.name}: out of memory decoding it"
    except Exception as exc:  # a decoder bug on one file must not stop the folder
        item.error_kind = ErrorKind.INTERNAL.value
        item.error = f"{path.name}: {type(exc).__name__}: {exc}"
        item.notes.append(traceback.format_exc(limit=3))
    return item


def lower_thread_priority() -> bool:
    """Make the calling thread yield the CPU to the process's other threads; False where not possible."""
    try:
        if sys.platform == "linux":
            # On Linux a thread id given to setpriority names that one thread (elsewhere: the process).
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
            return True
        if sys.platform == "win32":
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
            return bool(kernel32.SetThreadPriority(kernel32.GetCurrentThread(), -1))  # BELOW_NORMAL
    except (OSError, AttributeError):
        pass
    return False


MAX_THREAD_DECODERS = 4  # more decode threads measured no faster, on 2 cores and on 16


@dataclass(frozen=True)
class DecodePlan:
    """How many decode threads prepare images, and whether they give way to inference."""

    workers: int = 1
    background: bool = False

    @classmethod
    def for_cores(cls, inference_threads: int, cores: int, workers: int | None = None) -> DecodePlan:
        """Decoders for a machine: threads on the cores inference leaves free, else in the background.

        Measured (bench/vision_pipeline.py, bench/RESULTS.md): with no free core, two low-priority
        decoders on 2 cores fill the gaps inference threads leave at their barriers (a median 0.80 of the
        pure inference rate, where one decoder at normal priority gave 0.69-0.74); past four, decode
        threads add nothing, and on 16 cores neither did decoder processes.
        """
        if workers is None:
            free = cores - inference_threads
            workers = min(MAX_THREAD_DECODERS, free if free > 0 else cores)
        workers = max(1, workers)
        return cls(workers, background=inference_threads + workers > cores)


ONE_DECODER = DecodePlan()


class Prefetcher:
    """Prepares images in order on the plan's threads, keeping ``depth`` images in flight.

    With ``plan.background`` the decode threads run at a lower priority: when inference already keeps every
    core busy, a decode thread that preempts one of its threads stalls all the others at the next
    barrier, costing more than the decode itself; at low priority decoding fills the gaps instead, and
    still gets every idle core once inference waits for the next batch.
    """

    def __init__(self, paths: Sequence[Path], config: PreprocessConfig, *, plan: DecodePlan = ONE_DECODER,
                 depth: int = 16, fast_decode: bool = True) -> None:
        self._paths = list(paths)
        self._config = config
        self._fast = fast_decode
        self._depth = max(1, depth)
        self._pool = ThreadPoolExecutor(max_workers=plan.workers, thread_name_prefix="decode",
                                        initializer=lower_thread_priority if plan.background else None)
        self._pending: collections.deque[Future[Prepared]] = collections.deque()
        self._next = 0

    def _fill(self) -> None:
        while len(self._pending) < self._depth and self._next < len(self._paths):
            self._pending.append(self._pool.submit(prepare, self._next, self._paths[self._next], self._config,
                                                   self._fast))
            self._next += 1

    def batches(self, batch_size: int) -> Iterator[list[Prepared]]:
        """Successive lists of up to ``batch_size`` prepared images, in input order."""
        self._depth = max(self._depth, 2 * batch_size)
        self._fill()
        while self._pending:
            batch: list[Prepared] = []
            while self._pending and len(batch) < batch_size:
                batch.append(self._pending.popleft().result())
                self._fill()  # keep the decoders busy while this batch is inferred
            yield batch

    def close(self) -> None:
        """Stop the decode threads, dropping work not yet started."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
