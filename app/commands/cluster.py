"""``workbench cluster``: start a head, join it from another machine, connect, and see the nodes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``cluster`` command group."""
    from app.cluster.ray_env import DEFAULT_OBJECT_STORE_BYTES, DEFAULT_PORT

    parser = subparsers.add_parser("cluster", help="use other machines' devices through Ray (docs/cluster.md)")
    actions = parser.add_subparsers(dest="cluster_command", metavar="ACTION")

    def node_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--name", help="the node's name in device ids (NAME/cpu); default: the host name")
        sub.add_argument("--num-cpus", type=int, help="CPUs the node offers (default: all)")
        sub.add_argument("--num-gpus", type=int, help="GPUs the node offers (default: all)")
        sub.add_argument("--object-store-mb", type=int, default=DEFAULT_OBJECT_STORE_BYTES // 2**20,
                         help=f"object store size in MiB (default {DEFAULT_OBJECT_STORE_BYTES // 2**20})")

    head = actions.add_parser("start-head", help="start the cluster's head node on this machine (token auth on)")
    head.add_argument("--bind", default="127.0.0.1",
                      help="address other nodes reach this one at (default 127.0.0.1: this machine only)")
    head.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"GCS port (default {DEFAULT_PORT})")
    node_options(head)
    head.set_defaults(handler=run_start_head)

    join = actions.add_parser("join", help="join this machine to a cluster as a node")
    join.add_argument("address", metavar="ADDRESS", help="the head's HOST:PORT")
    join.add_argument("--token", help="the head's token (printed by start-head; default: the saved one)")
    join.add_argument("--bind", help="this node's address as the head sees it (default: loopback for a "
                                     "loopback head, else the address Ray detects)")
    node_options(join)
    join.set_defaults(handler=run_join)

    connect = actions.add_parser("connect", help="use the cluster at ADDRESS from this machine (saved)")
    connect.add_argument("address", metavar="ADDRESS", help="HOST:PORT of the head")
    connect.add_argument("--token", help="the cluster token (default: the saved one)")
    connect.set_defaults(handler=run_connect)

    status = actions.add_parser("status", help="the nodes: CPUs, GPUs, RAM and their devices")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--refresh", action="store_true", help="probe the nodes' devices again")
    status.set_defaults(handler=run_status)

    stop = actions.add_parser("stop", help="stop the Ray processes of this machine (head or node)")
    stop.set_defaults(handler=run_stop)

    forget = actions.add_parser("disconnect", help="stop using the saved cluster from this machine")
    forget.set_defaults(handler=run_disconnect)
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def run_start_head(args: argparse.Namespace) -> int:
    """``cluster start-head``."""
    from app.cluster.connection import start_node
    from app.cluster.ray_env import ClusterError, read_token, token_path

    try:
        start_node(head=True, name=args.name, bind=args.bind, port=args.port, num_cpus=args.num_cpus,
                   num_gpus=args.num_gpus, object_store_bytes=args.object_store_mb * 2**20)
    except ClusterError as exc:
        return _fail(exc)
    address = f"{args.bind}:{args.port}"
    print(f"head started at {address} (token auth on, dashboard off, object store {args.object_store_mb} MiB)")
    print(f"token file: {token_path()} (keep it secret: whoever has it can run code on every node)")
    print(f"on another machine: workbench cluster join {address} --token {read_token()}")
    if args.bind.startswith("127."):
        print("note: bound to loopback, so only this machine can join; use --bind <LAN address> for others")
    return 0


def run_join(args: argparse.Namespace) -> int:
    """``cluster join ADDRESS``."""
    from app.cluster.connection import start_node
    from app.cluster.ray_env import ClusterError

    host = args.address.rsplit(":", 1)[0]
    bind = args.bind or ("127.0.0.1" if host.startswith("127.") or host == "localhost" else None)
    try:
        start_node(head=False, address=args.address, name=args.name, bind=bind or _detect_ip(host),
                   token=args.token, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                   object_store_bytes=args.object_store_mb * 2**20)
    except ClusterError as exc:
        return _fail(exc)
    print(f"joined the cluster at {args.address}")
    return 0


def _detect_ip(head_host: str) -> str:
    # The local address the system would use to reach the head: what the head must dial back.
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((head_host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def run_connect(args: argparse.Namespace) -> int:
    """``cluster connect ADDRESS``."""
    from app.cluster.connection import connect
    from app.cluster.ray_env import ClusterError

    try:
        connect(args.address, args.token)
    except ClusterError as exc:
        return _fail(exc)
    print(f"connected to {args.address} (saved: later commands use it)")
    return run_status(argparse.Namespace(json=False, refresh=False))


def run_status(args: argparse.Namespace) -> int:
    """``cluster status``."""
    from app.cluster.inventory import live_nodes
    from app.cluster.ray_env import ClusterError
    from app.text_table import format_table, human_bytes

    try:
        nodes = live_nodes(with_devices=True, refresh=args.refresh)
    except ClusterError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps([{"name": n.name, "node_id": n.node_id, "address": n.address, "head": n.is_head,
                           "cpus": n.cpus, "gpus": n.gpus, "memory_bytes": n.memory_bytes,
                           "devices": n.device_ids(), "probe_error": n.probe_error} for n in nodes], indent=2))
        return 0
    rows = [(n.name + (" (head)" if n.is_head else ""), n.address, f"{n.cpus:g}", f"{n.gpus:g}",
             human_bytes(n.memory_bytes), ", ".join(n.device_ids()) or n.probe_error or "-") for n in nodes]
    print(format_table(("node", "address", "CPUs", "GPUs", "RAM", "devices"), rows))
    return 0


def run_stop(args: argparse.Namespace) -> int:
    """``cluster stop``."""
    from app.cluster.connection import stop_node
    from app.cluster.ray_env import ClusterError

    try:
        done = stop_node()
    except ClusterError as exc:
        return _fail(exc)
    print((done.stdout or done.stderr).strip() or "stopped")
    return done.returncode


def run_disconnect(args: argparse.Namespace) -> int:
    """``cluster disconnect``."""
    from app.cluster.connection import disconnect

    disconnect(forget=True)
    print("this machine no longer uses a cluster")
    return 0
