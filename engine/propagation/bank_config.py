"""The feature bank's settings (see `engine.propagation.bank`), apart from the bank itself so that the command line and
job files take their defaults from here without loading torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BankConfig:
    budget: int = 300_000  # features over all objects, background included
    update_rate: float = 0.1  # weight of new features when merging (0.05 for YouTube-VOS and long videos)
    merge_threshold: float = 0.95  # cosine similarity above which a new feature merges into an entry
    protect_keyframes: bool = True  # keyframe entries are never evicted
    chunk_elements: int = 1 << 26  # bank x new-feature similarities held at once while matching

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError("budget must be at least 1")
        if not 0 <= self.update_rate <= 1:
            raise ValueError("update_rate must be in [0, 1]")
        if self.chunk_elements < 1:
            raise ValueError("chunk_elements must be at least 1")
