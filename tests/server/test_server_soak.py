"""A bounded soak on loopback: mixed streamed, whole and cancelled requests; every one is exactly one
history row, and the worker's memory stays flat. (bench/soak.py runs the 1,000-request version.)"""

from __future__ import annotations

from pathlib import Path

from api_server_support import start, stop

from bench.soak import rss_bytes, run_soak

REQUESTS = 100


def test_soak_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    running = start(tmp_path)
    try:
        report = run_soak(running.base_url, running.history, REQUESTS, concurrency=2,
                          worker_rss=lambda: rss_bytes(running.worker_pid()))
        assert report.sent == REQUESTS and report.errors == []
        assert report.lost == [] and report.duplicated == []
        assert report.kinds["cancelled"] > 0 and report.kinds["stream"] > 0 and report.kinds["whole"] > 0
        assert report.rss_growth_bytes < 32 * 1024 * 1024, report
    finally:
        stop(running)
