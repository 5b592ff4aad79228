"""The Bayesian networks that ship with the app, as Models-page records (no Qt).

They are not in the model registry (nothing is downloaded or imported), but a person filtering the Models
page by ``bayes`` expects the networks the Bayes page offers: the bayes engine's declared starter models,
each a file in ``resources/networks``.
"""

from __future__ import annotations

from app.models.records import ModelRecord
from ui.bayes.network_choice import networks_folder


def shipped_network_records() -> list[ModelRecord]:
    """One record per shipped network file the bayes engine declares (none when that engine is missing)."""
    from app.discovery import find_spec

    spec = find_spec("bayes")
    if spec is None:
        return []
    records = []
    for name in spec.starter_models:
        path = networks_folder() / f"{name}.bif.gz"
        if path.is_file():
            records.append(ModelRecord(id=name, kind="bayes", format="bif", path=str(path), source="package",
                                       size_bytes=path.stat().st_size, meta={"shipped": True}))
    return records
