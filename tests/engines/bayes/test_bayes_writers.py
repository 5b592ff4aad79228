"""BIF and XMLBIF writers keep every float64 bit: write -> read gives identical arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bayes_helpers import network

from engines.base import EngineError, ErrorKind
from engines.bayes.formats.read import read_network
from engines.bayes.formats.write import to_bif, write_network
from engines.bayes.model import BayesNet


@pytest.mark.parametrize("name", ["asia", "child", "hepar2"])
@pytest.mark.parametrize("suffix", [".bif", ".xmlbif"])
def test_round_trip_is_exact(tmp_path: Path, name: str, suffix: str) -> None:
    net = network(name)
    rng = np.random.default_rng(1)
    # awkward values: full 17-digit floats, subnormal-adjacent and tiny numbers
    noisy = [c * (1 + 1e-13 * rng.standard_normal(c.shape)) for c in net.cpts]
    noisy[0] = noisy[0].copy()
    first = noisy[0].reshape(-1, noisy[0].shape[-1])[0]
    first[:] = 0.0
    first[:2] = [1e-300, 1.0]
    original = BayesNet(net.name, net.variables, net.states, net.parents, noisy)
    path = tmp_path / f"{name}{suffix}"
    write_network(original, path)
    back, _ = read_network(path)
    assert back.variables == original.variables and back.states == original.states
    assert back.parents == original.parents
    for a, b in zip(original.cpts, back.cpts, strict=True):
        assert np.array_equal(a, b)


def test_names_bif_cannot_hold_are_refused() -> None:
    net = network("asia")
    odd = BayesNet("odd", ["has space", *net.variables[1:]], net.states, net.parents, net.cpts)
    with pytest.raises(EngineError) as caught:
        to_bif(odd)
    assert caught.value.kind == ErrorKind.UNSUPPORTED and "XMLBIF" in caught.value.message


def test_unknown_output_format(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="writable formats"):
        write_network(network("asia"), tmp_path / "asia.dne")
