"""``workbench devices``: what this machine offers."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``devices`` command."""
    parser = subparsers.add_parser("devices", help="list the CPU, GPUs, NPUs and backends of this machine")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Probe and print."""
    from app.cluster.inventory import device_rows, saved_cluster_nodes
    from app.devices import probe_devices, report_to_json
    from app.text_table import format_table, human_bytes

    report = probe_devices(with_report=True)
    nodes, cluster_error = saved_cluster_nodes()  # other machines' devices, when a cluster is set up
    if args.json:
        data = report_to_json(report)
        if nodes or cluster_error:
            data["cluster"] = {"nodes": [{"name": n.name, "devices": n.device_ids(), "cpus": n.cpus, "gpus": n.gpus,
                                          "memory_bytes": n.memory_bytes} for n in nodes], "error": cluster_error}
        print(json.dumps(data, indent=2, default=str))
        return 0
    cpu = report["cpu"]
    print(f"CPU: {cpu['model']} ({cpu['arch']}), {cpu['physical_cores']} physical / "
          f"{cpu['logical_cores']} logical cores, default threads {cpu['default_threads']}")
    print(f"ISA: {', '.join(cpu['isa']) or 'baseline'}")
    print(f"RAM: {human_bytes(cpu['ram_bytes'])} ({human_bytes(cpu['ram_available_bytes'])} available)")
    offload = report["llama_gpu_offload"]
    print("llama.cpp GPU offload: " + ("not installed" if offload is None else "yes" if offload else "no (CPU build)"))
    print()
    rows = [(d.id, d.kind, d.backend, d.name, d.vendor, human_bytes(d.memory_bytes) if d.memory_bytes else "-")
            for d in report["devices"]]
    print(format_table(("id", "kind", "backend", "name", "vendor", "memory"), rows))
    if nodes:
        print(f"\ncluster: {len(nodes)} node(s)")
        print(format_table(("id", "kind", "backend", "name", "vendor", "memory"), device_rows(nodes)))
    elif cluster_error:
        print(f"\ncluster: {cluster_error}")
    if report["errors"]:
        print()
        for name, error in report["errors"].items():
            print(f"note: {name}: {error}")
    return 0
