"""Decode and preprocess images ahead of inference, on threads or processes, and hand them over in batches.

Pillow's decoders and resizers and numpy release the GIL for their heavy parts, so a few decode threads
overlap inference of the current batch; on many cores their Python parts serialise on the GIL, and
processes take over.
"""

from __future__ import annotations

import collections
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
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


MAX_THREAD_DECODERS = 4  # more decode threads only fight over the GIL (measured on 2 and 16 cores)
PROCESS_DECODE_MIN_IMAGES = 64  # fewer images: threads, without waking the processes


@dataclass(frozen=True)
class DecodePlan:
    """How many decoders prepare images, whether they give way to inference, and threads or processes."""

    workers: int = 1
    background: bool = False
    processes: bool = False

    @classmethod
    def for_cores(cls, inference_threads: int, cores: int, workers: int | None = None,
                  processes: bool = False) -> DecodePlan:
        """Decoders for a machine: threads on the cores inference leaves free, else in the background.

        Measured (bench/vision_pipeline.py, bench/RESULTS.md): with no free core, two low-priority
        decoders on 2 cores fill the gaps inference threads leave at their barriers (0.87 of the pure
        inference rate where one decoder at normal priority gave 0.74); past four, decode threads add
        nothing. Processes are for decoding heavier than the samples'; on 16 cores they measured the same.
        """
        free = cores - inference_threads
        if workers is None:
            workers = min(MAX_THREAD_DECODERS, free if free > 0 else cores)
        workers = max(1, workers)
        return cls(workers, background=inference_threads + workers > cores, processes=processes)


ONE_DECODER = DecodePlan()


def _start_decoder_process(background: bool) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the worker above decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if background:
        import psutil

        try:
            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS if sys.platform == "win32" else 10)
        except (OSError, psutil.Error):
            pass


class Decoders:
    """The decoders of one engine: threads per run, or processes started once and kept until ``close``.

    Processes start in about half a second, so they live as long as the model; a folder of fewer than
    ``PROCESS_DECODE_MIN_IMAGES`` images uses threads and never starts them.
    """

    def __init__(self, plan: DecodePlan = ONE_DECODER) -> None:
        self.plan = plan
        self._processes: ProcessPoolExecutor | None = None

    def prefetcher(self, paths: Sequence[Path], config: PreprocessConfig, *, depth: int,
                   fast_decode: bool = True) -> Prefetcher:
        """A prefetcher over ``paths`` on this engine's decoders."""
        if self.plan.processes and len(paths) >= PROCESS_DECODE_MIN_IMAGES:
            return Prefetcher(paths, config, plan=self.plan, depth=max(depth, 4 * self.plan.workers),
                              fast_decode=fast_decode, executor=self._process_pool(), on_broken=self._discard)
        return Prefetcher(paths, config, plan=self.plan, depth=depth, fast_decode=fast_decode)

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._processes is None:
            import multiprocessing

            self._processes = ProcessPoolExecutor(self.plan.workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_start_decoder_process,
                                                  initargs=(self.plan.background,))
        return self._processes

    def _discard(self) -> None:
        # A broken pool refuses all work; the next run starts fresh processes.
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
            self._processes = None

    def close(self) -> None:
        """Stop the decoder processes, if any were started."""
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)
            self._processes = None


class Prefetcher:
    """Prepares images in order on ``workers`` threads, keeping ``depth`` images in flight.

    With ``plan.background`` the decode threads run at a lower priority: when inference already keeps every
    core busy, a decode thread that preempts one of its threads stalls all the others at the next
    barrier, costing more than the decode itself; at low priority decoding fills the gaps instead, and
    still gets every idle core once inference waits for the next batch.
    """

    def __init__(self, paths: Sequence[Path], config: PreprocessConfig, *, plan: DecodePlan = ONE_DECODER,
                 depth: int = 16, fast_decode: bool = True, executor: Executor | None = None,
                 on_broken: Callable[[], None] | None = None) -> None:
        self._paths = list(paths)
        self._config = config
        self._fast = fast_decode
        self._depth = max(1, depth)
        self._owned = executor is None
        self._pool: Executor = executor or ThreadPoolExecutor(
            max_workers=plan.workers, thread_name_prefix="decode",
            initializer=lower_thread_priority if plan.background else None)
        self._broken = False
        self._on_broken = on_broken
        self._pending: collections.deque[tuple[int, Future[Prepared] | None]] = collections.deque()
        self._next = 0

    def _fill(self) -> None:
        while len(self._pending) < self._depth and self._next < len(self._paths):
            future: Future[Prepared] | None = None
            if not self._broken:
                try:
                    future = self._pool.submit(prepare, self._next, self._paths[self._next], self._config,
                                               self._fast)
                except BrokenExecutor:
                    self._mark_broken()
            self._pending.append((self._next, future))
            self._next += 1

    def batches(self, batch_size: int) -> Iterator[list[Prepared]]:
        """Successive lists of up to ``batch_size`` prepared images, in input order."""
        self._depth = max(self._depth, 2 * batch_size)
        self._fill()
        while self._pending:
            batch: list[Prepared] = []
            while self._pending and len(batch) < batch_size:
                batch.append(self._take(*self._pending.popleft()))
                self._fill()  # keep the decoders busy while this batch is inferred
            yield batch

    def _take(self, index: int, future: Future[Prepared] | None) -> Prepared:
        if future is not None and not self._broken:
            try:
                return future.result()
            except BrokenExecutor:
                self._mark_broken()
        # A decoder process died (killed, or a native decoder crashed): this run finishes on this thread.
        return prepare(index, self._paths[index], self._config, self._fast)

    def _mark_broken(self) -> None:
        if not self._broken:
            self._broken = True
            if self._on_broken is not None:
                self._on_broken()

    def close(self) -> None:
        """Drop work not yet started; stop the decode threads (a shared process pool stays)."""
        for _, future in self._pending:
            if future is not None:
                future.cancel()
        self._pending.clear()
        if self._owned:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
