"""SKN's spatial prior: where each object is likely to be, from where it was in the previous frame.

The prior is a Gaussian centred on the median of the object's pixels (robust to stray blobs) with the RMS
spread of those pixels about that centre, widened by `spread_scale` to allow for motion. The background and
objects missing from the previous mask get a flat prior: there is nothing to constrain them by.
"""

from __future__ import annotations

import torch

MIN_SIGMA = 1.0  # grid cells; keeps a one-pixel object from giving an infinitely sharp prior


def spatial_log_prior(probs: torch.Tensor, grid: tuple[int, int], spread_scale: float) -> torch.Tensor:
    """Soft masks (O, H, W) at the padded frame size, object 0 the background -> log prior (O, h*w)."""
    obj_n, height, width = probs.shape
    grid_h, grid_w = grid
    scale_y, scale_x = height / grid_h, width / grid_w
    gy = torch.arange(grid_h, device=probs.device, dtype=torch.float32).view(grid_h, 1)
    gx = torch.arange(grid_w, device=probs.device, dtype=torch.float32).view(1, grid_w)
    prior = torch.zeros(obj_n, grid_h, grid_w, device=probs.device)
    for obj in range(1, obj_n):
        ys, xs = torch.nonzero(probs[obj] > 0.5, as_tuple=True)
        if ys.numel() == 0:
            continue
        # Pixel centres in grid coordinates (cell i covers pixels [i*scale, (i+1)*scale)).
        ys = (ys.float() + 0.5) / scale_y - 0.5
        xs = (xs.float() + 0.5) / scale_x - 0.5
        cy, cx = ys.median(), xs.median()
        sy = (spread_scale * (ys - cy).square().mean().sqrt()).clamp(min=MIN_SIGMA)
        sx = (spread_scale * (xs - cx).square().mean().sqrt()).clamp(min=MIN_SIGMA)
        prior[obj] = -((gy - cy).square() / (2 * sy**2) + (gx - cx).square() / (2 * sx**2))
    return prior.flatten(1)
