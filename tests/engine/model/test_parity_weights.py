"""The parity weights generator against the checksums the reference's weights were recorded with."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.model.parity_weights import parity_state_dict, parity_tensor, uniform
from tests.paths import FIXTURES


@pytest.fixture(scope="module")
def checksums():
    return json.loads((FIXTURES / "weights_checksums.json").read_text())


def test_every_tensor_matches_its_checksums(checksums):
    weights = parity_state_dict({key: entry["shape"] for key, entry in checksums.items()})
    assert list(weights) == list(checksums)
    for key, entry in checksums.items():
        values = weights[key].double().flatten().numpy()
        assert list(weights[key].shape) == entry["shape"], key
        for name, value in (("sum", values.sum()), ("abs_sum", np.abs(values).sum()), ("first", values[0])):
            assert value == pytest.approx(entry[name], rel=1e-6, abs=1e-12), f"{key} {name}"


def test_generator_is_a_pure_function_of_key_and_index():
    assert np.array_equal(uniform("a.weight", 10)[:4], uniform("a.weight", 4))
    assert not np.array_equal(uniform("a.weight", 4), uniform("b.weight", 4))
    values = uniform("x", 100_000)
    assert values.min() >= -1 and values.max() < 1 and abs(values.mean()) < 0.01


def test_unknown_tensor_kind_is_refused():
    with pytest.raises(ValueError, match="no parity rule"):
        parity_tensor("decoder.something", (3, 3))
