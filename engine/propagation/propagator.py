"""The per-shot propagation: keyframe masks in, a matte per object per frame out. No files, no sockets.

Frames come from any sequence of H x W x 3 uint8 display-sRGB arrays (a folder, a video, streamed pixels)
and keyframes are label maps of object ids at plate resolution. Objects keep their ids (any of 1..255, not
only contiguous ones): channel 0 is the background and channel i is the i-th id in ascending order, on the
way in and on the way out.

Frames are processed at an internal resolution (the shorter side capped at `max_size`, the reference's
native size below that) and the results are brought back to the plate's size. `steps()` yields after every
network step, with the results that became ready (none while a "both" segment's first pass is running), so a
server can interleave shots frame by frame; `run()` yields the results one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from engine.choices import Precision
from engine.learning.adaptation import (
    Adaptation,
    AdaptOptions,
    AdaptProgress,
    Learned,
    adaptation_steps,
    keyframes_fingerprint,
)
from engine.logs import event
from engine.model.afburr import AFBURR
from engine.model.readout import ReadOptions
from engine.propagation.bank import FeatureBank
from engine.propagation.bank_config import BankConfig
from engine.propagation.confidence import distance_discount, is_lost, object_confidence
from engine.propagation.contours import trace_outline
from engine.propagation.frame_result import FrameResult, ObjectState, Source
from engine.propagation.plan import Direction, Segment, plan
from engine.propagation.tracker import Tracker

log = logging.getLogger(__name__)

CORRECTION_SHARE = 4  # changed keyframes refine an earlier adaptation in this share of the steps


@dataclass(frozen=True)
class Settings:
    max_size: int | None = None  # shorter side of the internal resolution; 0: the plate's; None: the network's
    bank: BankConfig = field(default_factory=BankConfig)
    read: ReadOptions = field(default_factory=ReadOptions)
    precision: Precision = "fp32"
    contours: bool = False
    contour_tolerance: float = 1.0  # plate pixels
    contour_max_points: int | None = None  # per object: the tolerance grows until an outline fits
    lost_fraction: float = 0.05  # of the object's keyframe area
    memory_every: int | None = None  # memorise every N-th frame of a pass; None: the network's own
    adapt: int = 0  # steps of fine-tuning a copy of the network on the keyframes first (0: none)

    def __post_init__(self) -> None:
        if self.max_size is not None and self.max_size < 0:
            raise ValueError("max_size must be 0 (native) or positive")
        if self.memory_every is not None and self.memory_every < 1:
            raise ValueError("memory_every must be 1 or more")
        if self.adapt < 0:
            raise ValueError("adapt must be 0 (no adaptation) or a number of steps")


@dataclass
class _Computed:
    """One pass's output for one frame, at the internal resolution, kept until it is emitted."""

    probs: torch.Tensor  # (O, h, w)
    uncertainty: torch.Tensor  # (h, w)
    confidence: torch.Tensor  # (K,)
    keyframe: int


class Propagator:
    """Propagates keyframe masks through a shot with one model; one instance per shot."""

    def __init__(
        self,
        model: AFBURR,
        frames: Sequence[np.ndarray],
        object_ids: Sequence[int],
        settings: Settings | None = None,
        plate_size: tuple[int, int] | None = None,
        on_adapt: Callable[[AdaptProgress], None] | None = None,
        learned: Learned | None = None,
    ) -> None:
        """`plate_size` (height, width) saves reading frame 0 to learn it, for sources that stream frames;
        `on_adapt` hears of every adaptation step (`Settings.adapt`); `learned` is what an earlier run of the
        shot learnt, which a run that adapts starts from."""
        if not object_ids or len(set(object_ids)) != len(object_ids) or not all(1 <= i <= 255 for i in object_ids):
            raise ValueError(f"object ids must be distinct values in 1..255, got {list(object_ids)}")
        if len(frames) == 0:
            raise ValueError("the shot has no frames")
        self.base = model
        self.model = model.for_inference()  # once per shot, not once per pass
        self.on_adapt = on_adapt
        self.adaptation: Adaptation | None = None  # once adapted: the copy's record, or why it fell back
        self.learned = learned  # the keyframes learnt so far and the network that learnt them
        self.frames = frames
        self.object_ids = tuple(sorted(object_ids))
        self.settings = settings or Settings()
        height, width = plate_size or np.asarray(frames[0]).shape[:2]
        self.plate_size = (height, width)
        self.internal_size = internal_size(height, width, effective_max_size(model, self.settings.max_size))
        self.device = next(model.parameters()).device

    def run(
        self, keyframes: Mapping[int, np.ndarray], first: int, last: int, direction: Direction = "both"
    ) -> Iterator[FrameResult]:
        """Every frame of `first..last` that the keyframes and direction reach, in the order computed."""
        for ready in self.steps(keyframes, first, last, direction):
            yield from ready

    def steps(
        self, keyframes: Mapping[int, np.ndarray], first: int, last: int, direction: Direction = "both"
    ) -> Iterator[list[FrameResult]]:
        """After every network step, the results that became ready (often one, sometimes none or many)."""
        self._check_range(keyframes, first, last)
        if self.settings.adapt:  # `learned` says whether these keyframes are learnt already
            yield from self._adapt(keyframes)
        keys = sorted(keyframes)
        pending_keys = [key for key in keys if first <= key <= last]  # emitted as drawn, before their passes
        for segment in plan(keys, first, last, direction):
            starts = (segment.forward_from, segment.backward_from)
            while pending_keys and (pending_keys[0] < segment.outputs[0] or pending_keys[0] in starts):
                yield [self._keyframe_result(pending_keys.pop(0), keyframes)]
            yield from self._fill(segment, keyframes)
        while pending_keys:
            yield [self._keyframe_result(pending_keys.pop(0), keyframes)]

    def _adapt(self, keyframes: Mapping[int, np.ndarray]) -> Iterator[list[FrameResult]]:
        """Fine-tune a copy of the network on the keyframes, then propagate with the copy.

        The keyframes are read first, in frame order, one a step (`engine.server.streamed.access_order`: a
        streamed source holds a step's reads, no more). What an earlier run learnt (`learned`) is used as it is
        for the same keyframes, and refined in a share of the steps for changed ones (a correction); otherwise
        the copy starts from the network. Every step yields, so a stop between two ends the adaptation.
        """
        examples = []
        for index in sorted(keyframes):
            examples.append((self._pixels(index), self._labels(keyframes[index])))
            yield []
        fingerprint = keyframes_fingerprint(keyframes, self.object_ids)
        if self.learned is not None and self.learned.keyframes == fingerprint:
            event(log, logging.INFO, "keyframes already learnt", steps=0)
            self.model = self.learned.model.for_inference()
            return
        start = self.base if self.learned is None else self.learned.model
        steps = self.settings.adapt if self.learned is None else max(1, self.settings.adapt // CORRECTION_SHARE)
        run = adaptation_steps(start, examples, AdaptOptions(steps=steps), self.settings.precision)
        while True:
            try:
                progress = next(run)
            except StopIteration as finished:
                self.adaptation = finished.value
                break
            if self.on_adapt is not None:
                self.on_adapt(progress)
            yield []
        if not self.adaptation.adapted:
            log.warning("propagating without learning the keyframes: %s", self.adaptation.fallback)
            return
        self.learned = Learned(self.adaptation.model, fingerprint)
        self.model = self.adaptation.model.for_inference()
        origin = "network" if start is self.base else "earlier adaptation"
        seconds = round(self.adaptation.seconds, 1)
        event(log, logging.INFO, "learned the keyframes", steps=steps, start=origin, seconds=seconds)

    # --- segments and passes ----------------------------------------------------------------------------

    def _fill(self, segment: Segment, keyframes: Mapping[int, np.ndarray]) -> Iterator[list[FrameResult]]:
        wanted = set(segment.outputs)
        if segment.backward_from is None or segment.forward_from is None:
            source: Source = "forward" if segment.forward_from is not None else "backward"
            start = segment.forward_from if source == "forward" else segment.backward_from
            assert start is not None  # plan() leaves out segments with a keyframe on neither side
            order = segment.forward_frames if source == "forward" else segment.backward_frames
            for index, computed in self._pass(start, order, keyframes):
                yield [self._result(index, computed, source, keyframes)] if index in wanted else []
            return
        forward: dict[int, _Computed] = {}
        for index, computed in self._pass(segment.forward_from, segment.forward_frames, keyframes):
            if index in wanted:
                forward[index] = computed
            yield []
        for index, computed in self._pass(segment.backward_from, segment.backward_frames, keyframes):
            if index not in wanted:
                yield []
                continue
            ahead = forward.pop(index)
            if computed.confidence.mean() > ahead.confidence.mean():
                yield [self._result(index, computed, "backward", keyframes)]
            else:
                yield [self._result(index, ahead, "forward", keyframes)]

    def _pass(
        self, keyframe: int, order: Sequence[int], keyframes: Mapping[int, np.ndarray]
    ) -> Iterator[tuple[int, _Computed]]:
        bank = FeatureBank(self.model.config.memory_classes(len(self.object_ids)), self.settings.bank)
        every = effective_memory_every(self.model, self.settings.memory_every)
        tracker = Tracker(self.model, bank, self.settings.read, self.settings.precision, memory_every=every)
        tracker.start(self._frame(keyframe), self._masks(keyframes[keyframe]))
        for position, index in enumerate(order):
            step = tracker.step(self._frame(index), memorize=position < len(order) - 1)
            confidence = object_confidence(step.probs, step.uncertainty) * distance_discount(index - keyframe)
            yield index, _Computed(step.probs.cpu(), step.uncertainty.cpu(), self._calibrated(confidence), keyframe)

    def _calibrated(self, confidence: torch.Tensor) -> torch.Tensor:
        """The objects' confidence as the network's calibration estimates J from it (raw where it has none)."""
        calibration = self.model.confidence_calibration
        confidence = confidence.cpu()
        return confidence if calibration is None else torch.from_numpy(calibration(confidence.numpy()))

    # --- conversions ------------------------------------------------------------------------------------

    def _frame(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self._pixels(index)).permute(2, 0, 1).float().div_(255)

    def _pixels(self, index: int) -> np.ndarray:
        """Frame `index` as uint8 RGB (h, w, 3) at the internal size."""
        pixels = np.asarray(self.frames[index])
        if pixels.shape[:2] != self.plate_size or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(
                f"frame {index} has shape {pixels.shape}, the shot's frames are {self.plate_size[1]}x"
                f"{self.plate_size[0]} RGB"
            )
        if (pixels.shape[0], pixels.shape[1]) != self.internal_size:
            pixels = cv2.resize(pixels, self.internal_size[::-1], interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(pixels)

    def _masks(self, labels: np.ndarray) -> torch.Tensor:
        """A keyframe label map as one-hot masks (O, h, w) at the internal size, background first."""
        labels = self._labels(labels)  # ids not among the shot's objects are 0 already
        channels = [labels == 0] + [labels == i for i in self.object_ids]
        return torch.from_numpy(np.stack(channels)).float()

    def _labels(self, labels: np.ndarray) -> np.ndarray:
        """A keyframe label map at the internal size, the shot's objects alone (any other id is background)."""
        if labels.shape[:2] != self.internal_size:
            labels = cv2.resize(labels, self.internal_size[::-1], interpolation=cv2.INTER_NEAREST)
        return np.where(np.isin(labels, self.object_ids), labels, 0).astype(np.uint8)

    def _result(
        self, index: int, computed: _Computed, source: Source, keyframes: Mapping[int, np.ndarray]
    ) -> FrameResult:
        size = self.plate_size
        probs = F.interpolate(computed.probs[None], size=size, mode="bilinear", align_corners=False)[0]
        uncertainty = F.interpolate(computed.uncertainty[None, None], size=size, mode="bilinear", align_corners=False)[
            0, 0
        ]
        lookup = np.array((0, *self.object_ids), dtype=np.uint8)
        # Each pixel's strongest channel, reduced along the innermost dimension: torch's argmax across the
        # channels of a (O, H, W) map took 30 ms for a 480-line plate, this 3 ms, with the same first-of-equals.
        labels = lookup[probs.movedim(0, -1).contiguous().argmax(dim=-1).numpy()]
        mattes = probs[1:].clamp(0, 1).numpy()
        reference = keyframes[computed.keyframe]
        objects = []
        for k, object_id in enumerate(self.object_ids):
            area = int(np.count_nonzero(mattes[k] >= 0.5))
            lost = is_lost(area, int(np.count_nonzero(reference == object_id)), self.settings.lost_fraction)
            objects.append(ObjectState(object_id, float(computed.confidence[k]), lost, area))
        return self._finish(index, source, mattes, labels, uncertainty.numpy(), objects)

    def _keyframe_result(self, index: int, keyframes: Mapping[int, np.ndarray]) -> FrameResult:
        labels = keyframes[index].astype(np.uint8)
        mattes = np.stack([labels == i for i in self.object_ids]).astype(np.float32)
        objects = [ObjectState(i, 1.0, False, int(np.count_nonzero(labels == i))) for i in self.object_ids]
        uncertainty = np.zeros(self.plate_size, np.float32)
        return self._finish(index, "keyframe", mattes, labels, uncertainty, objects)

    def _finish(
        self,
        index: int,
        source: Source,
        mattes: np.ndarray,
        labels: np.ndarray,
        uncertainty: np.ndarray,
        objects: list[ObjectState],
    ) -> FrameResult:
        contours = None
        if self.settings.contours:
            tolerance, most = self.settings.contour_tolerance, self.settings.contour_max_points
            contours = {i: trace_outline(m, tolerance, most) for i, m in zip(self.object_ids, mattes, strict=True)}
        return FrameResult(index, source, self.object_ids, mattes, labels, uncertainty, tuple(objects), contours)

    def _check_range(self, keyframes: Mapping[int, np.ndarray], first: int, last: int) -> None:
        if not 0 <= first <= last < len(self.frames):
            raise ValueError(f"range {first}..{last} is not inside the shot's frames 0..{len(self.frames) - 1}")
        for index, labels in keyframes.items():
            if not 0 <= index < len(self.frames):
                raise ValueError(f"keyframe {index} is outside the shot's frames 0..{len(self.frames) - 1}")
            if labels.shape != self.plate_size:
                raise ValueError(f"keyframe {index} mask is {labels.shape[::-1]}, the plate is {self.plate_size[::-1]}")


def effective_max_size(model: AFBURR, max_size: int | None) -> int:
    """The cap on the shorter side a run uses: `max_size` where one is asked for, else the network's own."""
    return model.default_max_size if max_size is None else max_size


def effective_memory_every(model: AFBURR, memory_every: int | None) -> int:
    """Every how many frames a run memorises one: `memory_every` where asked for, else the network's own."""
    return model.default_memory_every if memory_every is None else memory_every


def internal_size(height: int, width: int, max_size: int) -> tuple[int, int]:
    """The size frames are processed at: the shorter side capped at `max_size` (0: no cap), aspect kept."""
    shorter = min(height, width)
    if max_size == 0 or shorter <= max_size:
        return height, width
    scale = max_size / shorter
    return max(1, round(height * scale)), max(1, round(width * scale))
