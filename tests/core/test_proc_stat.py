"""The resource sampler's /proc reading path, on real child processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from core.metrics import ResourceSampler, _ProcSource, _PsutilSource
from core.proc_stat import ProcessGone, ProcReader, descendants, proc_readable

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

# A child that holds ~96 MiB resident and, when asked, spins or starts a grandchild holding ~64 MiB more.
CHILD = """
import subprocess, sys, time
block = bytearray(96 * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1
if "grandchild" in sys.argv:
    kid = subprocess.Popen([sys.executable, "-c",
        "import time\\nb = bytearray(64 * 2**20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\n"
        "print('ready', flush=True)\\ntime.sleep(60)"], stdout=subprocess.PIPE)
    kid.stdout.readline()
print("ready", flush=True)
end = time.time() + 60
while time.time() < end:
    if "spin" not in sys.argv:
        time.sleep(0.05)
"""


def _start(*args: str) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    return child


@pytest.fixture
def spinning() -> Iterator[subprocess.Popen[bytes]]:
    child = _start("spin")
    yield child
    child.kill()
    child.wait()


@pytest.fixture
def with_grandchild() -> Iterator[subprocess.Popen[bytes]]:
    child = _start("grandchild")
    yield child
    for kid in psutil.Process(child.pid).children(recursive=True):
        kid.kill()
    child.kill()
    child.wait()


def test_cpu_time_and_rss_match_what_psutil_reads(spinning: subprocess.Popen[bytes]) -> None:
    other = psutil.Process(spinning.pid)
    with ProcReader(spinning.pid) as reader:
        first = reader.cpu_seconds()
        time.sleep(0.6)
        mine, theirs = reader.cpu_seconds(), other.cpu_times()
        assert mine > first, "a spinning process accumulates CPU time"
        # Both read the same kernel counters (clock ticks), a moment apart.
        assert mine == pytest.approx(theirs.user + theirs.system, abs=0.1)
        assert reader.rss_bytes() == pytest.approx(other.memory_info().rss, rel=0.05)
        assert reader.rss_bytes() > 96 * 2**20


def test_descendants_are_listed_without_walking_proc(with_grandchild: subprocess.Popen[bytes]) -> None:
    expected = {p.pid for p in psutil.Process(with_grandchild.pid).children(recursive=True)}
    assert expected and set(descendants(with_grandchild.pid) or []) == expected


def test_a_command_name_with_spaces_and_parentheses_is_parsed(tmp_path: Path) -> None:
    # Field 2 of /proc/PID/stat is the command name in parentheses, and it may contain ") (" itself.
    odd = tmp_path / "a) b (c"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", odd)
    child = subprocess.Popen([str(odd), "5"])
    try:
        time.sleep(0.1)
        with ProcReader(child.pid) as reader:
            assert b"(a) b (c)" in (Path("/proc") / str(child.pid) / "stat").read_bytes()
            # Parsed from the right fields: the same numbers psutil reads.
            assert reader.rss_bytes() == psutil.Process(child.pid).memory_info().rss
            times = psutil.Process(child.pid).cpu_times()
            assert reader.cpu_seconds() == pytest.approx(times.user + times.system, abs=0.011)
    finally:
        child.kill()
        child.wait()


def test_an_exited_process_reads_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    reader = ProcReader(child.pid)
    child.wait()  # reaped: the open descriptors now answer ESRCH
    with pytest.raises(ProcessGone):
        reader.cpu_seconds()
    reader.close()
    with pytest.raises(ProcessGone):
        ProcReader(child.pid)
    assert not proc_readable(child.pid)


def test_the_sampler_reads_cpu_and_the_memory_of_descendants(with_grandchild: subprocess.Popen[bytes]) -> None:
    sampler = ResourceSampler(with_grandchild.pid, interval_s=0.05).start()
    time.sleep(0.5)
    summary = sampler.stop()
    assert len(sampler.samples) >= 4
    # The child's 96 MiB and the grandchild's 64 MiB are both counted.
    assert summary["peak_rss_mb"] > 96 + 64
    assert 0.0 <= summary["mean_cpu_percent"] < 50.0, "this child mostly sleeps"


def test_the_sampler_sees_a_busy_process_and_agrees_with_psutil(spinning: subprocess.Popen[bytes]) -> None:
    proc, fallback = _ProcSource(spinning.pid), _PsutilSource(spinning.pid)
    try:
        time.sleep(1.0)
        (cpu, rss), (cpu_ps, rss_ps) = proc.read(), fallback.read()
    finally:
        proc.close()
        fallback.close()
    # One spinning thread: up to one core, less when this shared machine is busy.
    assert 10.0 < cpu <= 110.0
    assert cpu == pytest.approx(cpu_ps, abs=25.0)
    assert rss == pytest.approx(rss_ps, rel=0.05)


def test_the_sampler_stops_by_itself_when_the_process_exits() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.4)"])
    sampler = ResourceSampler(child.pid, interval_s=0.05).start()
    child.wait()
    time.sleep(0.3)
    assert sampler._thread is not None and not sampler._thread.is_alive()
    summary = sampler.stop()
    assert summary["peak_rss_mb"] > 1.0


def test_a_missing_process_gives_no_samples() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    sampler = ResourceSampler(child.pid, interval_s=0.01).start()
    time.sleep(0.05)
    assert sampler.stop() == {}
