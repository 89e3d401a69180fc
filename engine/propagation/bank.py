"""The adaptive feature bank of AFB-URR: bounded per-object memory that absorbs and forgets features.

After every frame each object's new keys/values are matched against its bank by cosine similarity. Those
closer than `merge_threshold` to an entry are averaged into it (magnitude-preserving, at `update_rate`); the
rest are appended. When appending would exceed the object's budget, the least-frequently-used entries (usage
per frame of age) are evicted with the reference's rising integer threshold. Usage is counted by the reader:
every frame adds log(1 + number of query pixels that gave the entry more than 1e-3 attention).

Two things differ from the reference, neither of which changes its results where it works:
- Where a frame brings more new entries than the budget, the reference empties the bank and then crashes;
  here the evicted bank takes an evenly spaced subset of the new entries that fits.
- Entries from keyframes (masks the artist drew) can be protected from eviction, since they are ground
  truth. Parity runs switch this off.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from engine.model.readout import MemoryView
from engine.propagation.bank_config import BankConfig

USAGE_CAP = 1e5


def class_budget(budget: int, obj_n: int) -> float:
    """Per-object budget, the reference's split: budget // obj_n, times 0.8 for one object plus background."""
    share = budget // obj_n
    return 0.8 * share if obj_n == 2 else share


@dataclass
class _ObjectMemory:
    keys: torch.Tensor  # (C, N)
    values: torch.Tensor  # (D, N)
    added_at: torch.Tensor  # (N,) float32, the step each entry was added
    usage: torch.Tensor  # (N,) float32, accumulated log(1 + count)
    protected: torch.Tensor  # (N,) bool

    @classmethod
    def create(cls, keys: torch.Tensor, values: torch.Tensor, step: int, protected: bool) -> _ObjectMemory:
        n = keys.shape[1]
        return cls(
            keys.clone(),
            values.clone(),
            keys.new_full((n,), float(step), dtype=torch.float32),
            keys.new_zeros(n, dtype=torch.float32),
            torch.full((n,), protected, dtype=torch.bool, device=keys.device),
        )

    def __len__(self) -> int:
        return self.keys.shape[1]

    def keep(self, mask: torch.Tensor) -> None:
        self.keys, self.values = self.keys[:, mask], self.values[:, mask]
        self.added_at, self.usage, self.protected = self.added_at[mask], self.usage[mask], self.protected[mask]

    def append(self, keys: torch.Tensor, values: torch.Tensor, step: int, protected: bool) -> None:
        n = keys.shape[1]
        self.keys = torch.cat([self.keys, keys], dim=1)
        self.values = torch.cat([self.values, values], dim=1)
        self.added_at = torch.cat([self.added_at, self.added_at.new_full((n,), float(step))])
        self.usage = torch.cat([self.usage, self.usage.new_zeros(n)])
        self.protected = torch.cat([self.protected, self.protected.new_full((n,), protected)])


class FeatureBank:
    """Keys, values and usage per memorised class, indexed 0 .. obj_n - 1: the background first and the objects,
    or the objects alone for a network with an implicit background (`ModelConfig.memory_classes`)."""

    def __init__(self, obj_n: int, config: BankConfig | None = None) -> None:
        if obj_n < 1:
            raise ValueError("a bank needs at least one memorised class (obj_n >= 1)")
        self.obj_n = obj_n
        self.config = config or BankConfig()
        self.class_budget = class_budget(self.config.budget, obj_n)
        self.replaced = [0] * obj_n  # entries evicted so far, per object
        self._objects: list[_ObjectMemory] = []
        self._step = 0
        self._view: MemoryView | None = None

    @property
    def sizes(self) -> list[int]:
        return [len(obj) for obj in self._objects]

    @torch.inference_mode()
    def initialize(self, keys: torch.Tensor, values: torch.Tensor, step: int = 0, keyframe: bool = True) -> None:
        """Replace the whole bank with one frame's features, keys (O, C, HW) and values (O, D, HW)."""
        keys, values = self._checked(keys, values)
        protect = keyframe and self.config.protect_keyframes
        room = int(self.class_budget)
        self._objects = [
            _ObjectMemory.create(*_fit(obj_keys, obj_values, room), step, protect)
            for obj_keys, obj_values in zip(keys, values, strict=True)
        ]
        self._step = step
        self._view = None

    @torch.inference_mode()
    def add_usage(self, counts: torch.Tensor) -> None:
        """Credit each entry with log(1 + query pixels that used it); `counts` (O, N) as the reader returns."""
        for obj, row in zip(self._objects, counts, strict=True):
            obj.usage += torch.log(row[: len(obj)].to(obj.usage.dtype) + 1)

    @torch.inference_mode()
    def update(self, keys: torch.Tensor, values: torch.Tensor, step: int, keyframe: bool = False) -> None:
        """Absorb one frame's features, keys (O, C, HW) and values (O, D, HW), at `step`.

        `step` counts frames and must grow with every update: entry ages (for eviction) are step differences.
        """
        keys, values = self._checked(keys, values)
        if step <= self._step:
            raise ValueError(f"update step {step} must be greater than the last step {self._step}")
        protect = keyframe and self.config.protect_keyframes
        for index, obj in enumerate(self._objects):
            append = self._merge(obj, keys[index], values[index])
            new_keys, new_values = keys[index][:, append], values[index][:, append]
            if self.class_budget < len(obj) + new_keys.shape[1]:
                self.replaced[index] += self._evict(obj, new_keys.shape[1], step)
                new_keys, new_values = _fit(new_keys, new_values, int(self.class_budget - len(obj)))
            obj.append(new_keys, new_values, step, protect)
            obj.usage.clamp_(0, USAGE_CAP)
        self._step = step
        self._view = None

    def view(self) -> MemoryView:
        """The bank stacked over objects for the reader, valid until the next `initialize` or `update`.

        Each object's entries then live in the stack (the objects keep views into it), so the bank is held
        once, not twice.
        """
        if self._view is None:
            self._view = _stack(self._objects)
            for index, obj in enumerate(self._objects):
                size = len(obj)
                obj.keys, obj.values = self._view.keys[index, :, :size], self._view.values[index, :, :size]
        return self._view

    def _merge(self, obj: _ObjectMemory, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Average the new features that match an entry into it; returns the mask of those left to append."""
        normed_keys = F.normalize(keys, dim=0)
        best_corr, best_entry = _nearest_entries(F.normalize(obj.keys, dim=0), normed_keys, self.config.chunk_elements)
        merge = best_corr > self.config.merge_threshold
        targets = best_entry[merge]
        if targets.numel():
            entries, slot = torch.unique(targets, return_inverse=True)
            # The value of a feature merges into the entry its key matched.
            obj.keys[:, entries] = self._blend(obj.keys[:, entries], normed_keys[:, merge], slot)
            obj.values[:, entries] = self._blend(obj.values[:, entries], F.normalize(values, dim=0)[:, merge], slot)
        return ~merge

    def _blend(self, entries: torch.Tensor, normed_new: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        """|e| * ((1 - r) * e/|e| + r * mean of the new features), per entry; the old norm is kept."""
        mean_new = torch.zeros_like(entries).scatter_reduce_(
            1, slot.unsqueeze(0).expand_as(normed_new), normed_new, reduce="mean", include_self=False
        )
        rate = self.config.update_rate
        norms: torch.Tensor = entries.norm(p=2, dim=0)
        return norms * ((1 - rate) * F.normalize(entries, dim=0) + rate * mean_new)

    def _evict(self, obj: _ObjectMemory, request_n: int, step: int) -> int:
        """LFU eviction until `request_n` new entries fit; returns how many entries were evicted.

        The reference's loop: drop every entry whose usage per frame of age is not above int(min) + 1, and
        repeat with the survivors' new minimum until the room suffices. Protected entries are never dropped.
        """
        old_size = len(obj)
        lfu = obj.usage / (step - obj.added_at)
        evictable = ~obj.protected
        while evictable.any():
            threshold = int(lfu[evictable].min()) + 1
            keep = (lfu > threshold) | ~evictable
            obj.keep(keep)
            lfu, evictable = lfu[keep], evictable[keep]
            if self.class_budget - len(obj) - request_n >= 0:
                break
        return old_size - len(obj)

    def _checked(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The features as float32 (the bank's arithmetic is the reference's, whatever the model ran in)."""
        if keys.ndim != 3 or values.ndim != 3 or keys.shape[0] != self.obj_n or values.shape[0] != self.obj_n:
            raise ValueError(
                f"expected keys and values shaped (obj_n={self.obj_n}, dim, positions), "
                f"got {tuple(keys.shape)} and {tuple(values.shape)}"
            )
        return keys.float(), values.float()


def _nearest_entries(
    normed_bank: torch.Tensor, normed_new: torch.Tensor, chunk_elements: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each new feature its most similar bank entry (first of equals) and the similarity.

    The bank is scanned in chunks so that at most `chunk_elements` similarities exist at once.
    """
    bank_n, new_n = normed_bank.shape[1], normed_new.shape[1]
    step = max(1, chunk_elements // max(new_n, 1))
    best = normed_new.new_full((new_n,), float("-inf"))
    where = torch.zeros(new_n, dtype=torch.int64, device=normed_new.device)
    for start in range(0, bank_n, step):
        # new features by entries: the maximum then runs along rows in memory order (a third of the time)
        corr = torch.mm(normed_new.transpose(0, 1), normed_bank[:, start : start + step])
        value, index = corr.max(dim=1)
        better = value > best
        best = torch.where(better, value, best)
        where = torch.where(better, index + start, where)
    return best, where


def _fit(keys: torch.Tensor, values: torch.Tensor, room: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most `room` features, evenly spaced over the frame so that every region keeps some memory."""
    n = keys.shape[1]
    if n <= room:
        return keys, values
    index = torch.arange(max(room, 0), device=keys.device) * n // max(room, 1)
    return keys[:, index], values[:, index]


def _stack(objects: list[_ObjectMemory]) -> MemoryView:
    sizes = [len(obj) for obj in objects]
    longest = max(sizes)
    if min(sizes) == longest:
        return MemoryView(torch.stack([o.keys for o in objects]), torch.stack([o.values for o in objects]), None)
    first = objects[0].keys
    keys = first.new_zeros(len(objects), first.shape[0], longest)
    values = first.new_zeros(len(objects), objects[0].values.shape[0], longest)
    valid = torch.zeros(len(objects), longest, dtype=torch.bool, device=first.device)
    for index, (obj, size) in enumerate(zip(objects, sizes, strict=True)):
        keys[index, :, :size], values[index, :, :size], valid[index, :size] = obj.keys, obj.values, True
    return MemoryView(keys, values, valid)
