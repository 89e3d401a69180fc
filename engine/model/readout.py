"""Reading the feature bank: every query position attends over each object's memory.

Three readers share one chunked loop:
- `global` (AFB-URR's own): softmax over the whole bank of `key . query / sqrt(128)`.
- `kmn` (KMN, ECCV 2020): each memory entry first finds its best-matching query position; a 2D Gaussian
  around that position then weights the entry's attention, so an entry only explains query pixels near where
  it matches best. Applied at inference only, as KMN does.
- `skn`: KMN's kernel, but the best-match search is weighted by a spatial prior built from the previous mask
  (see `engine.model.spatial_prior`), so a look-alike far from where the object was cannot capture it.

The bank-by-pixels affinity is never materialised whole: query positions are processed in chunks so that each
affinity-sized temporary (logits, attention, threshold mask, kernel) holds at most `chunk_elements` values,
which bounds the read's peak memory at a few times 4 x `chunk_elements` bytes whatever the bank size. The
softmax runs over the bank, which every chunk holds complete, so chunking does not change the result. Usage
counting (how many query pixels give an entry more than `usage_threshold` attention) accumulates per chunk
as well.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

ReaderKind = Literal["global", "kmn", "skn"]
READER_KINDS: tuple[ReaderKind, ...] = ("global", "kmn", "skn")


@dataclass(frozen=True)
class ReadOptions:
    """How the memory is read. The defaults compute what the reference computes."""

    reader: ReaderKind = "global"
    sigma: float = 7.0  # KMN/SKN Gaussian standard deviation, in cells of the 1/16 feature grid
    spread_scale: float = 2.0  # SKN: prior standard deviation = spread_scale x RMS spread of the last mask
    usage_threshold: float = 1e-3  # attention above which a query pixel counts as using an entry
    chunk_elements: int = 1 << 26  # values per affinity temporary (frames x objects x bank entries x pixels)

    def __post_init__(self) -> None:
        if self.reader not in READER_KINDS:
            raise ValueError(f"reader must be one of {', '.join(READER_KINDS)}, not {self.reader!r}")
        if self.sigma <= 0 or self.spread_scale <= 0:
            raise ValueError("sigma and spread_scale must be positive")
        if self.chunk_elements < 1:
            raise ValueError("chunk_elements must be at least 1")


@dataclass(frozen=True)
class MemoryView:
    """The bank as the reader sees it: objects stacked, shorter banks padded at the end."""

    keys: torch.Tensor  # (O, C, N)
    values: torch.Tensor  # (O, D, N)
    valid: torch.Tensor | None  # (O, N) bool, None when every object has N entries


class ReadResult(NamedTuple):
    readout: torch.Tensor  # (B, O, D, HW) memory read-out per query frame and object
    usage: torch.Tensor  # (O, N) int64, query pixels of frame 0 that used each entry


def read_memory(
    memory: MemoryView,
    query_key: torch.Tensor,
    grid: tuple[int, int],
    options: ReadOptions,
    log_prior: torch.Tensor | None = None,
) -> ReadResult:
    """Attend from `query_key` (B, C, HW) on the `grid` (h, w) over `memory`.

    `log_prior` (O, HW) is SKN's spatial prior in log space; it is required by `skn` and ignored otherwise.
    """
    if options.reader == "skn" and log_prior is None:
        raise ValueError("the skn reader needs the previous mask's spatial prior")
    batch, hw = query_key.shape[0], query_key.shape[-1]
    obj_n, value_dim, bank_n = memory.values.shape
    step = max(1, options.chunk_elements // (batch * obj_n * max(bank_n, 1)))
    centres = None
    if options.reader != "global":
        prior = log_prior if options.reader == "skn" else None
        centres = _best_query_positions(memory.keys, query_key, step, prior)

    readout = query_key.new_empty(batch, obj_n, value_dim, hw, dtype=memory.values.dtype)
    usage = torch.zeros(obj_n, bank_n, dtype=torch.int64, device=query_key.device)
    for start, stop in _chunks(hw, step):
        logits = _affinity(memory.keys, query_key[..., start:stop])
        if centres is not None:
            logits = logits + _log_gaussian(centres, start, stop, grid[1], options.sigma)
        if memory.valid is not None:
            logits = logits.masked_fill(~memory.valid[None, :, None, :], float("-inf"))
        attention = torch.softmax(logits, dim=3)
        usage += _count_above(attention[0], options.usage_threshold)
        readout[..., start:stop] = torch.matmul(memory.values.unsqueeze(0), attention.transpose(2, 3))
    return ReadResult(readout, usage)


def _chunks(total: int, step: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, step):
        yield start, min(start + step, total)


def _affinity(keys: torch.Tensor, query_key: torch.Tensor) -> torch.Tensor:
    """(O, C, N) keys against (B, C, n) query keys -> (B, O, n, N) scaled dot products.

    Bank entries run along the last dimension, so that the softmax over the bank and the sums over query
    positions read memory in order: the other way round they took half the read's time on a CPU.
    """
    logits = torch.matmul(query_key.transpose(1, 2).unsqueeze(1), keys.unsqueeze(0))
    return logits.div_(math.sqrt(keys.shape[1]))


def _count_above(attention: torch.Tensor, threshold: float) -> torch.Tensor:
    """(O, n, N) attention -> (O, N) int64: for each entry, the query positions above `threshold`.

    Counted in blocks of 255 positions in bytes, then widened: summing the booleans straight into int64 cost
    six times as long (the counts are the same).
    """
    above = (attention > threshold).view(torch.uint8)
    counts = [block.sum(dim=1, dtype=torch.uint8).to(torch.int64) for block in above.split(255, dim=1)]
    return torch.stack(counts).sum(dim=0)


def _best_query_positions(
    keys: torch.Tensor, query_key: torch.Tensor, step: int, log_prior: torch.Tensor | None
) -> torch.Tensor:
    """For each (frame, object, entry) the query position it matches best, (B, O, N) int64.

    A running maximum over chunks with a strict comparison keeps the first of equal maxima, as one argmax would.
    """
    batch, obj_n, bank_n = query_key.shape[0], keys.shape[0], keys.shape[2]
    best = torch.full((batch, obj_n, bank_n), float("-inf"), device=keys.device, dtype=keys.dtype)
    where = torch.zeros((batch, obj_n, bank_n), dtype=torch.int64, device=keys.device)
    for start, stop in _chunks(query_key.shape[-1], step):
        logits = _affinity(keys, query_key[..., start:stop])
        if log_prior is not None:
            logits = logits + log_prior[None, :, start:stop, None]
        value, index = logits.max(dim=2)
        better = value > best
        best = torch.where(better, value, best)
        where = torch.where(better, index + start, where)
    return where


def _log_gaussian(centres: torch.Tensor, start: int, stop: int, width: int, sigma: float) -> torch.Tensor:
    """log of KMN's kernel for query positions [start, stop): (B, O, stop - start, N)."""
    positions = torch.arange(start, stop, device=centres.device)
    dy = (positions // width)[None, None, :, None] - (centres // width).unsqueeze(2)
    dx = (positions % width)[None, None, :, None] - (centres % width).unsqueeze(2)
    return -(dy.square() + dx.square()).float() / (2 * sigma * sigma)
