"""An engine registered only in tests: streams, hangs, crashes and fails on request."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from engines.base import EngineError, EngineKind, EngineSpec, ErrorKind, RunContext

SPEC = EngineSpec(
    id="echo", kind=EngineKind.OTHER, title="Echo (tests)", engine_class="tests.support.echo_engine:EchoEngine",
    file_types=(".echo",), ops=("stream", "hang", "crash", "fail", "bug", "pid", "env"),
)


class EchoEngine:
    """Does what each op says, for testing the supervisor."""

    def __init__(self) -> None:
        self.model = ""

    def load(self, model: str, device: str, options: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Pretend to load; 'missing' fails like a bad path would."""
        if model == "missing":
            raise EngineError(ErrorKind.NOT_FOUND, f"no such model: {model}")
        for step in range(3):
            ctx.progress(step + 1, 3, "loading")
        self.model = model
        return {"model_id": model, "device": device, "pid": os.getpid()}

    def run(self, op: str, params: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Dispatch to the op."""
        if op == "stream":
            count, delay = int(params.get("count", 10)), float(params.get("delay", 0.0))
            times = []
            for index in range(count):
                ctx.check_cancelled()
                if delay:
                    time.sleep(delay)
                now = time.perf_counter()
                times.append(now)
                ctx.partial({"text": f"tok{index} ", "index": index, "t": now})
                ctx.sample("token_ms", delay * 1000, now)
            return {"text": "".join(f"tok{i} " for i in range(count)), "metrics": {"tokens": float(count)},
                    "series": {"index": [[t, i] for i, t in enumerate(times)]}}
        if op == "hang":
            ctx.partial({"text": "hanging"})
            while True:  # ignores cancel on purpose
                time.sleep(0.05)
        if op == "crash":
            ctx.partial({"text": "about to crash"})
            print("echo engine: crashing now", flush=True)
            os.kill(os.getpid(), getattr(signal, str(params.get("signal", "SIGSEGV"))))
            time.sleep(10)
        if op == "fail":
            raise EngineError(ErrorKind.BAD_INPUT, "that input is wrong")
        if op == "bug":
            raise ValueError("a bug in the engine")
        if op == "pid":
            return {"pid": os.getpid()}
        if op == "env":
            return {key: os.environ.get(key) for key in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
        raise EngineError(ErrorKind.UNSUPPORTED, f"unknown op {op!r}")

    def unload(self) -> None:
        """Nothing to free."""
        self.model = ""
