"""Window maxima by shifted copies are max pooling's, to the bit, for every window the engine uses."""

import pytest
import torch
from torch.nn import functional as F

from engine.model.window_max import window_max


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9, 15, 17, 31])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_it_equals_max_pooling_with_stride_1_and_half_window_padding(size, dtype):
    torch.manual_seed(size)
    x = torch.randn(3, 2, 41, 63).to(dtype)
    expected = F.max_pool2d(x, size, stride=1, padding=size // 2)
    assert torch.equal(window_max(x, size), expected)
    assert torch.equal(window_max(x[0], size), expected[0])  # (C, H, W) as well


def test_binary_regions_grow_by_half_the_window_and_no_further():
    regions = torch.zeros(1, 30, 30)
    regions[0, 15, 15] = 1
    grown = window_max(regions, 15)
    assert grown.sum() == 15 * 15 and grown[0, 8:23, 8:23].all()


@pytest.mark.parametrize("size", [0, -3, 4])
def test_an_even_or_empty_window_is_refused(size):
    with pytest.raises(ValueError, match="odd size"):
        window_max(torch.zeros(1, 4, 4), size)
