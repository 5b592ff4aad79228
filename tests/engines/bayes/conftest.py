"""Fixtures for the Bayesian network tests."""

from __future__ import annotations

import pytest
from bayes_helpers import Ctx


@pytest.fixture
def ctx() -> Ctx:
    """A fresh recording context."""
    return Ctx()
