"""Runs a comparison: every configuration in its own worker, one after the other, stored as it goes.

Plain Python with callbacks (no Qt): the CLI calls :meth:`CompareRunner.run` directly, the GUI runs it on
a background task and calls :meth:`CompareRunner.cancel` from the UI thread.
"""

from __future__ import annotations

import subprocess
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app.compare.bandwidth import Bandwidth, probe_cpu_bandwidth
from app.compare.events import CompareEvent, ConfigDone, ConfigStarted, PlanReady, SessionDone, StepProgress
from app.compare.flags import apply_cross_row_flags
from app.compare.machine import machine_fingerprint
from app.compare.measure import MeasureCancelled, MeasureContext, StepFailed
from app.compare.plan import ENDPOINT, CompareSettings, Config, build_plan, endpoint_configs
from app.compare.power import POWERCAP_ROOT, EnergyMeter, power_status
from app.compare.results import CompareSession, ResultRow
from app.compare.store import CompareStore
from app.compare.workload import workload as registered_workload
from app.history import History
from app.supervisor import RequestHandle


def supported_devices(report: Mapping[str, Any], workloads: tuple[str, ...]) -> tuple[dict[str, list[str]],
                                                                                       dict[str, str]]:
    """Engine id -> the device ids it can use here; plus engine id -> why it is missing."""
    from app.devices import devices_from_json
    from app.discovery import get_spec

    devices = devices_from_json(list(report.get("devices") or []))
    found: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    for workload in workloads:
        if workload == ENDPOINT:
            continue  # endpoints are their own devices
        try:
            found[workload] = list(get_spec(workload).supported_devices(devices))
        except KeyError as exc:
            missing[workload] = str(exc).strip("'\"")
    return found, missing


def cpu_only_report(reason: str) -> dict[str, Any]:
    """A device report with just the CPU, for when the probe itself fails."""
    import platform
    from dataclasses import asdict

    from app.devices import cpu_info, library_versions
    from engines.base import Device

    cpu = cpu_info()
    device = Device("cpu", "cpu", "cpu", cpu["model"], "", cpu["ram_bytes"], {"isa": cpu["isa"]})
    return {"cpu": cpu, "devices": [asdict(device)], "llama_gpu_offload": None, "errors": {"probe": reason},
            "versions": library_versions(), "platform": platform.platform()}


class CompareRunner:
    """One comparison session from plan to stored, flagged rows."""

    def __init__(self, settings: CompareSettings, history: History, *,
                 on_event: Callable[[CompareEvent], None] | None = None,
                 device_report: Mapping[str, Any] | None = None, powercap_root: Path = POWERCAP_ROOT) -> None:
        self.settings = settings
        self.history = history
        self.store = CompareStore(history)
        self._on_event = on_event
        self._report = device_report
        self._powercap_root = powercap_root
        self._cancel = threading.Event()
        self._handle: RequestHandle | None = None
        self._handle_lock = threading.Lock()
        self.session_id: str | None = None
        self.plan: list[Config] = []

    # --- control ----------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop after asking the running request to stop (callable from any thread)."""
        self._cancel.set()
        with self._handle_lock:
            handle = self._handle
        if handle is not None:
            handle.cancel()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel.is_set()

    def _set_handle(self, handle: RequestHandle | None) -> None:
        with self._handle_lock:
            self._handle = handle
        if handle is not None and self._cancel.is_set():
            handle.cancel()

    def _emit(self, event: CompareEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    # --- the run ----------------------------------------------------------------------------------
    def prepare(self) -> list[Config]:
        """Probe devices (cached), fingerprint the machine, plan, and create the session row."""
        from app.devices import probe_devices_cached
        from core.thread_env import default_threads, physical_cores

        if self._report is not None:
            report = dict(self._report)
        else:
            try:
                report = probe_devices_cached()
            except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
                report = cpu_only_report(f"the device probe failed, so only the CPU is compared: {exc}")
        machine = machine_fingerprint(report)
        supported, missing = supported_devices(report, self.settings.workloads)
        from app.cluster.compare_plan import plan_with_nodes

        # Other machines' devices (a saved cluster) follow this machine's, each fingerprinted on its node.
        self.plan, machines = plan_with_nodes(self.settings, lambda: build_plan(
            self.settings, supported, cores=physical_cores(), threads=default_threads()))
        self.plan += endpoint_configs(self.settings)
        meta: dict[str, Any] = {"missing_engines": missing, "power": {}, "bandwidth": {},
                                "probe_errors": dict(report.get("errors") or {}), "machines": machines}
        for device in dict.fromkeys(c.device for c in self.plan):
            status = power_status(device, self._powercap_root)
            meta["power"][device] = {"available": status.available, "source": status.source,
                                     "detail": status.detail}
        self.session_id = self.store.create_session(",".join(self.settings.workloads), self.settings.to_dict(),
                                                    machine, meta=meta)
        self._meta = meta
        return self.plan

    def run(self) -> CompareSession:
        """Run every configuration; returns the stored session with its final flags."""
        if self.session_id is None:
            self.prepare()
        assert self.session_id is not None
        session_id = self.session_id
        self._emit(PlanReady(session_id, tuple(self.plan)))
        cpu_bandwidth = self._probe_bandwidth()
        rows: list[ResultRow] = []
        meters: dict[str, EnergyMeter] = {}
        shared: dict[str, Any] = {}
        status = "ok"
        try:
            for index, config in enumerate(self.plan):
                if self._cancel.is_set():
                    status = "cancelled"
                    break
                self._emit(ConfigStarted(index, len(self.plan), config))
                meter = meters.get(config.device) or meters.setdefault(
                    config.device, EnergyMeter(config.device, self._powercap_root))
                ctx = MeasureContext(
                    config=config, settings=self.settings, history=self.history, session_id=session_id,
                    index=index, total=len(self.plan), cancel_event=self._cancel, emit=self._emit,
                    set_handle=self._set_handle, energy=meter, cpu_bandwidth=cpu_bandwidth,
                )
                row = self._measure(ctx, shared)
                self.store.add_result(session_id, row)
                rows.append(row)
                self._emit(ConfigDone(index, row))
                if row.status == "cancelled":
                    status = "cancelled"
                    break
        except BaseException:
            status = "cancelled"  # Ctrl-C in the CLI: keep what was measured, marked as cut short
            raise
        finally:
            for meter in meters.values():
                meter.close()
            for row in apply_cross_row_flags(rows):
                self.store.set_flags(row)
            if status == "ok" and rows and not any(r.ok for r in rows):
                status = "failed"
            self.store.finish_session(session_id, status, meta=self._meta)
        self._emit(StepProgress(1.0, f"comparison {status}"))
        self._emit(SessionDone(session_id, status, tuple(rows)))
        return self.store.session(session_id)

    def _probe_bandwidth(self) -> Bandwidth | None:
        if not any(registered_workload(name).needs_cpu_bandwidth for name in {c.workload for c in self.plan}):
            return None
        self._emit(StepProgress(0.0, "measuring memory bandwidth (for LLM decode MBU)"))
        bandwidth = probe_cpu_bandwidth()
        self._meta["bandwidth"]["cpu"] = {"gb_per_s": bandwidth.gb_per_s, "method": bandwidth.method}
        return bandwidth

    def _measure(self, ctx: MeasureContext, shared: dict[str, Any]) -> ResultRow:
        config = ctx.config
        try:
            # Each workload gets its own shared dict (Bayes keeps the session's evidence and exact answer).
            row = registered_workload(config.workload).measure(ctx, shared.setdefault(config.workload, {}))
        except MeasureCancelled:
            row = self._empty(config, ctx)
            row.flag("cancelled", "cancelled before this configuration finished")
        except StepFailed as exc:
            row = self._empty(config, ctx)
            row.flag("failed", exc.message)
        except Exception as exc:  # a bug must not lose the rows measured so far
            row = self._empty(config, ctx)
            row.flag("failed", f"internal error: {type(exc).__name__}: {exc}")
            self._meta.setdefault("errors", []).append(traceback.format_exc()[-2000:])
        if row.run_id is None and ctx.run_ids:
            row.run_id = ctx.run_ids[-1]
        from app.cluster.compare_plan import node_flag

        # An endpoint's id (endpoint:http://…) has slashes but names no cluster node.
        machines = self._meta.get("machines") or {}
        if config.workload != ENDPOINT and (flag := node_flag(config.device, machines)) is not None:
            row.flag(*flag, level="info")
        row.metrics.setdefault("threads", float(config.threads))
        return row

    @staticmethod
    def _empty(config: Config, ctx: MeasureContext) -> ResultRow:
        return ResultRow(config.workload, config.device, config.backend, config.precision, config.variant)


def run_comparison(settings: CompareSettings, history: History | None = None, *,
                   on_event: Callable[[CompareEvent], None] | None = None,
                   device_report: Mapping[str, Any] | None = None) -> CompareSession:
    """Plan and run a comparison in one call (opens the default history when none is given)."""
    own = history is None
    store_history = history if history is not None else History()
    try:
        return CompareRunner(settings, store_history, on_event=on_event, device_report=device_report).run()
    finally:
        if own:
            store_history.close()
