"""Everything a training run is told, checked before any data is read or any network is built.

The options are stored in every checkpoint of the run, so `--resume` needs nothing but the run folder,
and a checkpoint says how it was trained. The defaults here are the command line's too (`engine train --help`
reads them), so this module loads no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.choices import BACKGROUNDS, LEARN

if TYPE_CHECKING:
    from engine.train.dataset import HideAndSeek

PROCEDURAL = "procedural"
# bf16 needs no loss scaling: it has fp32's exponent range, so small gradients do not underflow as in fp16.
TRAIN_PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class DataSpec:
    """One source of clips and its share of the mixture: `procedural`, a DAVIS folder, or a folder of images."""

    source: str  # "procedural" or a folder path
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> DataSpec:
        """`procedural`, `PATH` or either with `@WEIGHT`, e.g. `/data/davis@3`."""
        source, _, weight = text.rpartition("@") if "@" in text else (text, "", "")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"data {text!r}: the weight after '@' must be a number") from None
        if not source or value <= 0:
            raise ValueError(f"data {text!r}: give 'procedural' or a folder, and a weight above 0")
        return cls(source, value)

    def __str__(self) -> str:
        return f"{self.source}@{self.weight:g}"


@dataclass(frozen=True)
class TrainOptions:
    out: Path  # the run folder: checkpoints, loss log, validation results
    data: tuple[DataSpec, ...] = (DataSpec(PROCEDURAL),)
    model: str = "small"  # a named configuration; ignored when `init` is given (its own is used)
    init: Path | None = None  # a checkpoint to fine-tune from (weights only)
    background: str | None = None  # "explicit" or "implicit" (`ModelConfig.background`); None: the network's own
    skip_blocks: bool | None = None  # `ModelConfig.skip_blocks`; None: the network's own
    learn: str = "all"  # which parameters learn: all, or the parts `engine.choices.LEARNABLE_PARTS` names
    steps: int = 10_000
    clips_per_step: int = 4  # gradients of this many clips are summed before each optimiser step
    frames: int = 6  # per clip: frame 0 is memorised, the rest segmented
    size: tuple[int, int] = (384, 384)  # (height, width) of training clips, multiples of 16
    max_objects: int = 2  # objects per clip besides background
    max_skip: int | None = None  # video frames of a clip at most this far apart, in order; None: anywhere
    lr: float = 1e-4
    weight_decay: float = 0.01
    lr_step: int = 4_000  # halve the learning rate every this many steps
    uncertainty_weight: float = 0.5
    recurrent: bool = False
    reader: Literal["global", "kmn", "skn"] = "global"
    hide_top: float = 0.5
    hide_ramp: int = 0  # steps over which Hide-and-Seek ramps from 0 to `hide_top`; 0 turns it off
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    precision: str = "auto"  # as asked: auto, fp32 or bf16; the trainer resolves it for the device
    strict_precision: bool = False
    save_every: int = 500
    keep: int = 3  # step checkpoints kept besides last.pth
    val_every: int = 500
    val_clips: int = 16  # held-out clips of the training sources for the validation loss
    val_davis: Path | None = None  # a DAVIS folder scored with J&F at each validation
    val_max_size: int = 480
    log_every: int = 10

    def __post_init__(self) -> None:
        positive = ("steps", "clips_per_step", "max_objects", "lr_step", "save_every", "val_every", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.frames < 2:
            raise ValueError("--frames must be at least 2: one to memorise, one to segment")
        from engine.model.padding import STRIDE

        if any(side < STRIDE or side % STRIDE for side in self.size):
            raise ValueError(f"--size {self.size[0]}x{self.size[1]}: each side must be a multiple of {STRIDE}")
        if not self.data:
            raise ValueError("give at least one --data source")
        if not 0 <= self.hide_top <= 1 or self.hide_ramp < 0:
            raise ValueError("--hide-top must be in [0, 1] and --hide-ramp at least 0")
        if self.max_skip is not None and self.max_skip < 1:
            raise ValueError("--max-skip must be at least 1")
        if self.precision not in TRAIN_PRECISIONS:
            raise ValueError(f"--precision must be one of {', '.join(TRAIN_PRECISIONS)}: fp16 would need loss scaling")
        if self.background not in (None, *BACKGROUNDS):
            raise ValueError(f"--background must be one of {', '.join(BACKGROUNDS)}")
        if self.learn not in LEARN:
            raise ValueError(f"--learn must be one of {', '.join(LEARN)}")
        if self.lr <= 0 or self.val_clips < 0 or self.workers < 0 or self.keep < 0:
            raise ValueError("--lr must be above 0; --val-clips, --workers and --keep at least 0")

    @property
    def hiding(self) -> HideAndSeek:
        from engine.train.dataset import HideAndSeek

        return HideAndSeek(self.hide_top, self.hide_ramp)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the checkpoint (which must load with `weights_only=True`) and the run's log."""
        values = asdict(self)
        values["data"] = [str(spec) for spec in self.data]
        values["size"] = list(self.size)
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainOptions:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        paths = {k: Path(values[k]) for k in ("out", "init", "val_davis") if values.get(k) is not None}
        return cls(
            **{
                **values,
                **paths,
                "data": tuple(DataSpec.parse(text) for text in values["data"]),
                "size": tuple(values["size"]),
            }
        )
