"""Thread settings for worker processes, chosen from the cores this machine really has."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping


def physical_cores() -> int:
    """Physical cores (not hyper-threads) available to this process."""
    import psutil

    physical = psutil.cpu_count(logical=False) or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return max(1, min(physical, usable))


def default_threads() -> int:
    """Threads an engine uses unless the user says otherwise (``WORKBENCH_THREADS`` overrides)."""
    override = os.environ.get("WORKBENCH_THREADS")
    if override and override.isdigit() and int(override) > 0:
        return int(override)
    cores = physical_cores()
    # On small VMs the vCPUs share one physical core's worth of work: one thread is fastest there.
    return 1 if cores <= 2 else cores


def worker_environment(threads: int | None = None, extra: Mapping[str, str] | None = None,
                       engine: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """Environment variables set in a worker before any engine library loads (an empty value: unset).

    ``engine``: what the engine's spec declares (``EngineSpec.worker_env``), over the defaults; ``extra``
    (the caller's) goes over both.
    """
    count = threads if threads and threads > 0 else default_threads()
    env = {
        # Spinning OpenMP threads starve each other on few cores (30-100x slower measured here).
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": str(count),
        "MKL_NUM_THREADS": str(count),
        "OPENBLAS_NUM_THREADS": str(count),
        "WORKBENCH_THREADS": str(count),
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.update(engine)
    env.update(extra or {})
    return env


def apply_worker_environment(env: Mapping[str, str]) -> None:
    """Put ``env`` into this process's environment; an empty value removes the variable."""
    for name, value in env.items():
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
