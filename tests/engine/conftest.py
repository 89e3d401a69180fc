"""Engine test fixtures: the network with parity weights and the reference's golden outputs."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model import AFBURR
from engine.model.parity_weights import load_parity_weights
from tests.engine.model.golden_data import load_golden


@pytest.fixture(scope="session")
def parity_model() -> AFBURR:
    """The full network with the parity weights, on the CPU. Shared: tests must not modify it."""
    return load_parity_weights(AFBURR())


@pytest.fixture(scope="session")
def golden() -> dict[str, dict[str, np.ndarray]]:
    return load_golden()
