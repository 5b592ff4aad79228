"""An engine on another node: :class:`RemoteClient` has WorkerClient's interface over a pinned Ray actor.

``load`` / ``submit`` / ``cancel`` / ``restart`` / ``close`` and the events of :mod:`app.messages` behave as
with a local worker process: requests are sent in order by one sender thread, events come back in batches
through a long poll, a cancel that is not honoured within the grace period kills the actor, and an actor
that dies (its node left, the process crashed) fails every pending request with :class:`EngineDead`,
keeping the events already delivered.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Mapping
from typing import Any

from app.cluster.inventory import NodeRecord, find_node, split_device
from app.cluster.ray_env import ClusterError, require_ray
from app.messages import Cancel, Cancelled, EngineDead, Event, Failed, Load, Progress, Result, Run, Shutdown
from app.supervisor import CANCEL_GRACE_S, KillableClient
from core.thread_env import worker_environment
from engines.base import EngineSpec

POLL_TIMEOUT_S = 1.0
ACTOR_CONCURRENCY = 8  # poll + cancel + model chunks run beside the serving thread
# Request parameters that name input files or folders on this machine (images to classify, a labelled
# folder): the node gets its own identical copy, or the same path when it already has the same files.
INPUT_KEYS = ("paths", "folder")


def is_remote_device(device_id: str) -> bool:
    """True for a cluster device id (``NODE/cpu``); local ids never contain a '/'."""
    return split_device(device_id) is not None


def local_part(device_id: str) -> str:
    """The node-local device id of ``NODE/<id>`` (a local id is returned as it is)."""
    parts = split_device(device_id)
    return device_id if parts is None else parts[1]


class RemoteClient(KillableClient):
    """Hosts the engine in a Ray actor on one node of the cluster."""

    def __init__(self, spec: EngineSpec, node: NodeRecord, *, threads: int | None = None,
                 env: Mapping[str, str] | None = None, cancel_grace_s: float = CANCEL_GRACE_S) -> None:
        super().__init__(spec, cancel_grace_s)
        self.node = node
        self._env = worker_environment(threads, env, engine=spec.worker_env)
        self._actor: Any = None
        self._dead_reason: str | None = None
        self._outbox: queue.Queue[Load | Run | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._cancel_requested: set[str] = set()
        self._local_paths: dict[str, str] = {}
        self._load_ids: set[str] = set()
        self.remote_pid: int | None = None
        self._start()

    # --- life cycle -------------------------------------------------------------------------------
    @property
    def threads(self) -> int:
        """The thread count the engine was started with."""
        return int(self._env["OMP_NUM_THREADS"])

    @property
    def alive(self) -> bool:
        """Whether the actor serves requests."""
        return self._actor is not None and self._dead_reason is None and not self._closing

    def _start(self) -> None:
        ray = require_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from app.cluster.actor import EngineActor

        actor_class = ray.remote(EngineActor).options(
            # Pinned: the node is the device the user chose. num_cpus=0 as for a local worker, which does
            # not reserve cores either; the thread count is what bounds its use of the machine.
            scheduling_strategy=NodeAffinitySchedulingStrategy(self.node.node_id, soft=False),
            num_cpus=0, max_restarts=0, max_task_retries=0, max_concurrency=ACTOR_CONCURRENCY,
            # Ray nices its workers to 15; an engine is the work the user is waiting for, so it runs at the
            # normal priority a local worker process has (measurements stay comparable with local ones).
            runtime_env={"env_vars": {**self._env, "RAY_worker_niceness": "0"}}, name=None,
        )
        self._actor = actor_class.remote(self.spec.engine_class, dict(self._env))
        self._dead_reason, self._closing = None, False
        self._outbox = queue.Queue()
        try:
            described = ray.get(self._actor.describe.remote(), timeout=120)
        except Exception as exc:
            self._mark_dead(f"the engine actor did not start on node {self.node.name}: {type(exc).__name__}: {exc}")
            raise ClusterError(self._dead_reason or "") from exc
        self.remote_pid = int(described["pid"])
        actor = self._actor
        self._threads = [
            threading.Thread(target=self._poll_loop, args=(actor,), name=f"remote-poll-{self.spec.id}", daemon=True),
            threading.Thread(target=self._send_loop, args=(actor, self._outbox),
                             name=f"remote-send-{self.spec.id}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _mark_dead(self, reason: str) -> None:
        if self._dead_reason is None:
            self._dead_reason = reason

    def _poll_loop(self, actor: Any) -> None:
        import ray

        while True:
            try:
                events, closed = ray.get(actor.poll.remote(POLL_TIMEOUT_S))
            except Exception as exc:  # RayActorError / ActorDiedError / ActorUnavailableError
                if not self._closing:
                    self._mark_dead(_death_words(self.node.name, exc))
                break
            for event in events:
                if isinstance(event, Cancelled) and event.request_id in self._killed_for_cancel:
                    continue
                self._dispatch(self._from_node(event))
            if closed:
                break
        self._after_death()

    def _after_death(self) -> None:
        if self._closing and self._dead_reason is None:
            self._fail_pending(lambda rid: Cancelled(rid, {"closed": True}))
            return
        reason = self._dead_reason or "the engine actor stopped"

        def dead(rid: str) -> Event:
            if rid in self._killed_for_cancel:
                return Cancelled(rid, {"killed_after_grace_s": self._grace})
            return EngineDead(rid, None, None, reason, reason)

        self._fail_pending(dead)

    def _send_loop(self, actor: Any, outbox: queue.Queue[Load | Run | None]) -> None:
        # One sender keeps requests in order (a threaded actor runs calls in any order) and lets a model
        # transfer block here, not in the caller.
        import ray

        while True:
            message = outbox.get()
            if message is None:
                return
            rid = message.request_id
            try:
                ready = self._prepare_load(actor, message) if isinstance(message, Load) else \
                    self._stage_inputs(actor, message)
                if ready is not None:
                    ray.get(actor.submit.remote(ready))
            except Exception as exc:
                if self._dead_reason is None and not self._closing and _is_actor_error(exc):
                    self._mark_dead(_death_words(self.node.name, exc))
                    continue  # the poller reports the death to every pending request
                if self._dead_reason is None:
                    self._dispatch(Failed(rid, "internal", f"sending to {self.node.name} failed: "
                                          f"{type(exc).__name__}: {exc}"))

    def _prepare_load(self, actor: Any, message: Load) -> Load | None:
        """Point the Load at the node's copy of the model, sending the files when the node lacks them."""
        from pathlib import Path

        from app.cluster.model_transfer import build_manifest, send_model

        device = local_part(message.device)
        self._load_ids.add(message.request_id)
        if not Path(message.model).exists():  # a name the node resolves itself (a shipped Bayes network)
            return Load(message.request_id, message.model, device, message.options)
        rid = message.request_id

        def progress(done: int, total: int) -> None:
            self._dispatch(Progress(rid, float(done), float(total), f"sending the model to {self.node.name}"))

        manifest = build_manifest(message.model)
        try:
            node_path = send_model(actor, manifest, progress, cancelled=lambda: rid in self._cancel_requested)
        except InterruptedError:
            self._dispatch(Cancelled(rid, {"transfer": "cancelled"}))
            return None
        except ValueError as exc:
            self._dispatch(Failed(rid, "bad_input", str(exc)))
            return None
        self._local_paths[node_path] = message.model
        return Load(rid, node_path, device, message.options)

    def _stage_inputs(self, actor: Any, message: Run) -> Run:
        """Point a request's input files and folders (``paths``, ``folder``) at the node's copies."""
        from pathlib import Path

        from app.cluster.model_transfer import build_manifest, send_model

        params = dict(message.params)
        changed = False
        for key in INPUT_KEYS:
            value = params.get(key)
            items = [value] if isinstance(value, str) else value if isinstance(value, list) else None
            if not items or not all(isinstance(v, str) and Path(v).exists() for v in items):
                continue
            staged = [send_model(actor, build_manifest(v), lambda done, total: None) for v in items]
            params[key] = staged[0] if isinstance(value, str) else staged
            changed = True
        return Run(message.request_id, message.op, params) if changed else message

    def _send(self, message: Load | Run | Cancel | Shutdown) -> None:
        if not self.alive:
            if not isinstance(message, Cancel | Shutdown):
                reason = self._dead_reason or "the engine actor is closed"
                self._dispatch(EngineDead(message.request_id, None, None, reason,
                                          f"{reason}; restart it to continue"))
            return
        if isinstance(message, Load | Run):
            self._outbox.put(message)

    def _from_node(self, event: Event) -> Event:
        # A load's answer names the node's device (NODE/cpu) and this machine's model path, so history
        # rows and fingerprints read the same as for a local worker.
        if not isinstance(event, Result) or event.request_id not in self._load_ids:
            return event
        self._load_ids.discard(event.request_id)
        info = dict(event.data)
        if info.get("path") in self._local_paths:
            info["node_path"] = info["path"]
            info["path"] = self._local_paths[str(info["path"])]
        if "device" in info:
            info["device"] = f"{self.node.name}/{info['device']}"
        info["node"] = self.node.name
        return Result(event.request_id, info)

    # --- cancel, restart, close -----------------------------------------------------------------
    def _ask_to_cancel(self, request_id: str) -> None:
        self._cancel_requested.add(request_id)  # a model still being sent stops at its next chunk
        if self.alive:
            with contextlib.suppress(Exception):
                self._actor.cancel.remote(request_id)

    def _finished(self, request_id: str) -> None:
        super()._finished(request_id)
        self._cancel_requested.discard(request_id)

    def kill(self) -> None:
        """Kill the actor's process (it cannot be asked nicely any more)."""
        if self._actor is not None:
            import ray

            self._mark_dead("the engine actor was killed")
            with contextlib.suppress(Exception):
                ray.kill(self._actor, no_restart=True)

    def _stop(self, timeout: float) -> None:
        if self._actor is None:
            return
        import ray

        self._closing = True
        self._outbox.put(None)
        if self._dead_reason is None:
            with contextlib.suppress(Exception):
                ray.get(self._actor.shutdown.remote(), timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=timeout + POLL_TIMEOUT_S + 1)
        with contextlib.suppress(Exception):
            ray.kill(self._actor, no_restart=True)
        self._threads = []
        self._actor = None


def _is_actor_error(exc: BaseException) -> bool:
    from ray.exceptions import RayActorError

    return isinstance(exc, RayActorError)


def _death_words(node: str, exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"the engine on node {node} died ({type(exc).__name__}): {text[:700]}"


def start_remote_engine(engine_id: str, device_id: str, threads: int | None = None,
                        env: Mapping[str, str] | None = None,
                        cancel_grace_s: float = CANCEL_GRACE_S) -> RemoteClient:
    """A remote client for an installed engine on the node of ``device_id`` (``NODE/cpu``)."""
    from app.discovery import get_spec

    parts = split_device(device_id)
    if parts is None:
        raise ClusterError(f"{device_id!r} is a local device; remote devices look like NODE/cpu")
    return RemoteClient(get_spec(engine_id), find_node(parts[0]), threads=threads, env=env,
                        cancel_grace_s=cancel_grace_s)
