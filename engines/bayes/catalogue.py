"""The classic networks that ship with the app (bnlearn repository files, BIF, gzipped), by name."""

from __future__ import annotations

from pathlib import Path

# name -> (nodes, what it models); files are resources/networks/<name>.bif.gz
NETWORKS: dict[str, tuple[int, str]] = {
    "asia": (8, "chest clinic (Lauritzen & Spiegelhalter 1988)"),
    "cancer": (5, "lung cancer (Korb & Nicholson)"),
    "earthquake": (5, "burglary or earthquake alarm (Korb & Nicholson)"),
    "sachs": (11, "protein signalling (Sachs et al. 2005)"),
    "survey": (6, "transport usage survey (Scutari & Denis)"),
    "alarm": (37, "ICU patient monitoring (Beinlich et al. 1989)"),
    "barley": (48, "malting barley crop model"),
    "child": (20, "congenital heart disease in newborns"),
    "insurance": (27, "car insurance risk"),
    "mildew": (35, "mildew treatment in wheat"),
    "water": (32, "waste-water treatment plant"),
    "hailfinder": (56, "severe weather forecasting"),
    "hepar2": (70, "liver disorder diagnosis"),
    "win95pts": (76, "Windows 95 printer troubleshooting"),
    "pathfinder": (109, "lymph-node pathology diagnosis"),
    "andes": (223, "physics tutoring student model"),
    "diabetes": (413, "insulin dose adjustment"),
    "pigs": (441, "pig breeding pedigree"),
    "link": (724, "genetic linkage"),
    "munin": (1041, "electromyography diagnosis (full)"),
    "munin1": (186, "electromyography, subnetwork 1 (very large cliques)"),
    "munin2": (1003, "electromyography, subnetwork 2"),
    "munin3": (1041, "electromyography, subnetwork 3"),
    "munin4": (1038, "electromyography, subnetwork 4"),
}


def networks_dir() -> Path:
    """The folder holding the shipped network files."""
    return Path(__file__).resolve().parents[2] / "resources" / "networks"


def locate(name: str) -> Path | None:
    """The file of catalogue network ``name`` (case-insensitive), or None."""
    key = name.strip().lower()
    if key not in NETWORKS:
        return None
    path = networks_dir() / f"{key}.bif.gz"
    return path if path.is_file() else None


def listing() -> list[dict[str, object]]:
    """Every catalogue network with its size and whether its file is present."""
    return [{"name": name, "nodes": nodes, "title": title, "available": locate(name) is not None}
            for name, (nodes, title) in NETWORKS.items()]
