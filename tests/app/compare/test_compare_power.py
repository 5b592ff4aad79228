"""Energy readers: RAPL counters (read from a powercap tree), NVML, and what is said when neither works."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from app.compare.power import EnergyMeter, RaplReader, Unavailable, power_status, reader_for


def _zone(root: Path, name: str, label: str, energy_uj: int, max_uj: int = 1_000_000) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(f"{label}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


@pytest.fixture
def powercap(tmp_path: Path) -> Path:
    """A powercap tree as the intel_rapl driver lays it out: two packages, one sub-zone (not counted)."""
    root = tmp_path / "powercap"
    _zone(root, "intel-rapl:0", "package-0", 500_000)
    _zone(root, "intel-rapl:1", "package-1", 100)
    _zone(root, "intel-rapl:0:0", "core", 7)
    return root


def test_rapl_sums_packages_and_survives_a_counter_wrap(powercap: Path) -> None:
    reader = RaplReader(powercap)
    assert "package-0" in reader.detail and "package-1" in reader.detail and "core" not in reader.detail
    assert reader.read_joules() == 0.0
    (powercap / "intel-rapl:0" / "energy_uj").write_text("900000\n")  # +0.4 J
    (powercap / "intel-rapl:1" / "energy_uj").write_text("200100\n")  # +0.2 J
    assert reader.read_joules() == pytest.approx(0.6)
    (powercap / "intel-rapl:0" / "energy_uj").write_text("99999\n")  # wrapped at 1,000,000: +0.2 J
    assert reader.read_joules() == pytest.approx(0.8)


def test_the_energy_meter_measures_a_block_of_work(powercap: Path) -> None:
    meter = EnergyMeter("cpu", powercap)
    assert meter.available
    with meter.measure() as box:
        (powercap / "intel-rapl:0" / "energy_uj").write_text("750000\n")
    assert box.energy is not None
    assert box.energy.joules == pytest.approx(0.25) and box.energy.source == "rapl"
    assert box.energy.watts > 0
    meter.close()


def test_without_powercap_the_reason_is_given_not_a_zero(tmp_path: Path) -> None:
    status = power_status("cpu", tmp_path / "missing")
    assert not status.available and "no RAPL" in status.detail
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Unavailable, match="no RAPL package zones"):
        RaplReader(empty)
    meter = EnergyMeter("cpu", empty)
    with meter.measure() as box:
        pass
    assert box.energy is None and "no RAPL package zones" in meter.reason


def test_devices_without_a_reader_say_so() -> None:
    with pytest.raises(Unavailable, match="no energy reader for dml:0"):
        reader_for("dml:0")
    status = power_status("cuda:0")
    if importlib.util.find_spec("pynvml") is None:
        assert not status.available and "pynvml is not installed" in status.detail
    elif not status.available:  # pynvml present, no NVIDIA driver or GPU: NVML's own words
        assert status.detail.startswith(("NVML is not available", "NVML has no GPU 0"))
    else:
        assert status.source == "nvml" and "GPU 0" in status.detail


def test_this_machine_reports_a_clear_answer() -> None:
    status = power_status("cpu")
    if status.available:
        assert status.source == "rapl" and "package" in status.detail
    else:
        assert "RAPL" in status.detail or "root" in status.detail
