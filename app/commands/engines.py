"""``workbench engines``: installed engine plugins and the devices each can use."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``engines`` command."""
    parser = subparsers.add_parser("engines", help="list installed engine plugins and their devices")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--no-probe", action="store_true", help="skip the device probe (faster)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Discover and print; broken plugins are listed with their error."""
    from app.discovery import discover
    from app.text_table import format_table

    found = discover()
    devices: list[Any] = []
    if not args.no_probe:
        from app.devices import devices_from_json, probe_devices_cached

        devices = devices_from_json(probe_devices_cached()["devices"])
    rows = []
    for spec in sorted(found.specs.values(), key=lambda s: s.id):
        try:
            usable = spec.supported_devices(devices) if devices else ["cpu"]
        except Exception as exc:
            usable = [f"(device probe failed: {exc})"]
        rows.append({"id": spec.id, "kind": spec.kind.value, "title": spec.title, "status": "ok",
                     "devices": usable, "file_types": list(spec.file_types), "ops": list(spec.ops)})
    for name, error in sorted(found.broken.items()):
        rows.append({"id": name, "kind": "?", "title": "", "status": "broken", "error": error,
                     "devices": [], "file_types": [], "ops": []})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(format_table(("id", "kind", "status", "devices", "opens", "title / error"),
                       [(r["id"], r["kind"], r["status"], ", ".join(r["devices"]), " ".join(r["file_types"]),
                         r.get("error") or r["title"]) for r in rows]))
    return 0
