"""The decode pipeline: how many decode threads, at which priority, and that order survives them."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from vision_helpers import SAMPLES

from engines.vision.pipeline import DecodePlan, Prefetcher, lower_thread_priority
from engines.vision.preprocess import PreprocessConfig


@pytest.mark.parametrize(("threads", "cores", "workers", "expected"), [
    (1, 2, None, DecodePlan(1)),                         # the free core, full priority
    (2, 2, None, DecodePlan(2, background=True)),        # no free core: give way to inference
    (1, 1, None, DecodePlan(1, background=True)),
    (2, 6, None, DecodePlan(4)),                         # at most four decode threads
    (16, 16, None, DecodePlan(4, background=True)),
    (8, 32, None, DecodePlan(4)),
    (1, 4, 3, DecodePlan(3)),                            # the user's count, on free cores
    (2, 4, 3, DecodePlan(3, background=True)),           # the user's count, more than the free cores
])
def test_decode_plan_for_cores(threads: int, cores: int, workers: int | None, expected: DecodePlan) -> None:
    assert DecodePlan.for_cores(threads, cores, workers) == expected


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

