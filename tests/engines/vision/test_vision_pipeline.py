"""The decode pipeline: how many decode threads, at which priority, and that order survives them."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
import psutil
import pytest
from vision_helpers import SAMPLES

from engines.vision.pipeline import PROCESS_DECODE_MIN_IMAGES, DecodePlan, Decoders, Prefetcher, lower_thread_priority
from engines.vision.preprocess import PreprocessConfig


@pytest.mark.parametrize(("threads", "cores", "workers", "processes", "expected"), [
    (1, 2, None, False, DecodePlan(1)),                         # the free core, full priority
    (2, 2, None, False, DecodePlan(2, background=True)),        # no free core: give way to inference
    (1, 1, None, False, DecodePlan(1, background=True)),
    (2, 6, None, False, DecodePlan(4)),                         # at most four decode threads
    (16, 16, None, False, DecodePlan(4, background=True)),
    (8, 32, None, False, DecodePlan(4)),
    (16, 16, None, True, DecodePlan(4, background=True, processes=True)),  # processes on request
    (1, 2, 2, True, DecodePlan(2, background=True, processes=True)),
    (1, 4, 3, False, DecodePlan(3)),                            # the user's count, on free cores
    (2, 4, 3, False, DecodePlan(3, background=True)),           # the user's count, more than the free cores
])
def test_decode_plan_for_cores(threads: int, cores: int, workers: int | None, processes: bool,
                               expected: DecodePlan) -> None:
    assert DecodePlan.for_cores(threads, cores, workers, processes) == expected


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are a Linux feature")
def test_lowered_priority_applies_to_the_calling_thread_only() -> None:
    seen: dict[str, int | bool] = {}

    def body() -> None:
        seen["lowered"] = lower_thread_priority()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen["lowered"] is True and seen["nice"] > before
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_background_decoders_keep_input_order(tmp_path: Path) -> None:
    photos = sorted(SAMPLES.glob("*.jpg")) * 3
    (tmp_path / "not-an-image.jpg").write_text("text")
    paths = [*photos[:5], tmp_path / "not-an-image.jpg", *photos[5:]]
    with Prefetcher(paths, PreprocessConfig(), plan=DecodePlan(2, background=True)) as prefetcher:
        items = [item for batch in prefetcher.batches(4) for item in batch]
    assert [item.index for item in items] == list(range(len(paths)))
    assert [item.path for item in items] == paths
    assert [item.ok for item in items].count(False) == 1 and not items[5].ok
    assert all(item.array is not None and item.array.shape == (3, 224, 224) for item in items if item.ok)


def _folder(tmp_path: Path, count: int) -> list[Path]:
    photos = sorted(SAMPLES.glob("*.jpg"))
    (tmp_path / "broken.jpg").write_bytes(photos[0].read_bytes()[:500])
    paths = [photos[n % len(photos)] for n in range(count - 1)]
    return [*paths[:7], tmp_path / "broken.jpg", *paths[7:]]


def _decoder_processes() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_decoder_processes_give_what_threads_give_and_stay_for_the_next_run(tmp_path: Path) -> None:
    paths = _folder(tmp_path, PROCESS_DECODE_MIN_IMAGES)
    config = PreprocessConfig(interpolation="bicubic")
    with Prefetcher(paths, config, plan=DecodePlan(2)) as threads:
        expected = [item for batch in threads.batches(8) for item in batch]
    before = _decoder_processes()
    decoders = Decoders(DecodePlan(2, background=True, processes=True))
    try:
        with decoders.prefetcher(paths, config, depth=16) as prefetcher:
            got = [item for batch in prefetcher.batches(8) for item in batch]
        started = _decoder_processes() - before
        assert len(started) == 2
        assert [item.index for item in got] == list(range(len(paths)))
        assert not got[7].ok and "truncated" in got[7].error.lower()
        for mine, theirs in zip(got, expected, strict=True):
            assert mine.ok == theirs.ok
            if mine.array is not None and theirs.array is not None:
                assert np.array_equal(mine.array, theirs.array)
        if sys.platform != "win32":
            assert all(psutil.Process(pid).nice() == 10 for pid in started)
        with decoders.prefetcher(paths[:8], config, depth=16) as small:  # few images: threads, same processes
            assert len([item for batch in small.batches(8) for item in batch]) == 8
        with decoders.prefetcher(paths, config, depth=16) as again:
            assert len([item for batch in again.batches(8) for item in batch]) == len(paths)
        assert _decoder_processes() - before == started
    finally:
        decoders.close()
    assert not (_decoder_processes() - before)


def test_a_killed_decoder_process_loses_no_image(tmp_path: Path) -> None:
    paths = _folder(tmp_path, 96)
    config = PreprocessConfig()
    before = _decoder_processes()
    decoders = Decoders(DecodePlan(2, processes=True))
    try:
        got = []
        with decoders.prefetcher(paths, config, depth=16) as prefetcher:
            for n, batch in enumerate(prefetcher.batches(8)):
                got.extend(batch)
                if n == 1:
                    for pid in _decoder_processes() - before:
                        psutil.Process(pid).kill()
        assert [item.index for item in got] == list(range(len(paths)))
        assert [item.ok for item in got].count(False) == 1
        # The broken pool was dropped: the next run starts new processes and uses them.
        with decoders.prefetcher(paths, config, depth=16) as again:
            assert [item.ok for batch in again.batches(8) for item in batch].count(False) == 1
        assert len(_decoder_processes() - before) == 2
    finally:
        decoders.close()
