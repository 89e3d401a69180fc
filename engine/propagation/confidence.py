"""Per-object confidence and the `lost` flag: which frames an artist should review (see docs/confidence.md).

The URR branch of AFB-URR already measures doubt: its uncertainty `U = exp(1 - top1/top2)` compares the two
strongest objects at each pixel. Since it is computed from a softmax of probabilities, `top1/top2` is at most
e, so `U` lies in [exp(1 - e), 1]. We rescale it to [0, 1] and average it over each object's own region
(where the object wins, widened by a thin band to take in its boundary, where doubt concentrates):
confidence = 1 - that average. An object with no region at all has confidence 0.

That map sees two objects competing for a pixel, not a slow drift the network is sure of; and drift grows
with the distance from the keyframe a frame was propagated from. So the confidence a frame reports is that
average discounted by the distance: halved DRIFT_FRAMES frames away from its keyframe.
"""

from __future__ import annotations

import math

import torch

from engine.model.window_max import window_max

U_FLOOR = math.exp(1 - math.e)  # the smallest value the uncertainty can take
BAND_FRACTION = 0.01  # boundary band half-width, as a fraction of the frame diagonal
DRIFT_FRAMES = 400  # frames from the keyframe at which the confidence is halved


def object_confidence(probs: torch.Tensor, uncertainty: torch.Tensor) -> torch.Tensor:
    """Confidence in [0, 1] of every object but the background: probs (O, h, w), uncertainty (h, w) -> (O-1,)."""
    doubt = ((uncertainty - U_FLOOR) / (1 - U_FLOOR)).clamp(0, 1)
    regions = (probs[1:] >= 0.5).float()
    band = max(1, round(BAND_FRACTION * math.hypot(*probs.shape[-2:])))
    regions = window_max(regions, 2 * band + 1)
    area = regions.sum(dim=(1, 2))
    mean_doubt = (regions * doubt).sum(dim=(1, 2)) / area.clamp(min=1)
    return torch.where(area > 0, 1 - mean_doubt, torch.zeros_like(area))


def distance_discount(frames_from_keyframe: int) -> float:
    """1 / (1 + d / DRIFT_FRAMES) for a frame d frames (either way) from the keyframe of its pass."""
    return 1.0 / (1.0 + abs(frames_from_keyframe) / DRIFT_FRAMES)


def is_lost(area: int, keyframe_area: int, fraction: float) -> bool:
    """An object is lost when its area collapses below `fraction` of its area on the keyframe it came from.

    An object absent from that keyframe cannot be lost: there was nothing to keep.
    """
    return keyframe_area > 0 and area < fraction * keyframe_area
