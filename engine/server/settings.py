"""A propagate request's options as the propagator's `Settings`: each wire field to its engine field, typed.

The wire's option names and defaults are the engine's (`engine.propagation.settings`; a protocol test keeps the
two the same), so this is a plain field-by-field mapping with no defaults of its own.
"""

from __future__ import annotations

from engine.choices import Precision
from engine.model.readout import ReadOptions
from engine.propagation.bank_config import BankConfig
from engine.propagation.propagator import Settings
from engine.propagation.settings import READERS
from protocol import messages as m


def settings_for(request: m.Propagate, precision: Precision, max_contour_points: int) -> Settings:
    """The settings a request asks for, computing in the server's `precision`; outlines are simplified until
    they fit `max_contour_points`, the most items a message may carry. Raises ValueError on a value out of
    the engine's bounds."""
    options, outputs = request.options, request.outputs
    return Settings(
        max_size=options.max_size,
        memory_every=options.memory_every,
        bank=BankConfig(
            budget=options.budget,
            update_rate=options.update_rate,
            merge_threshold=options.merge_threshold,
            protect_keyframes=options.protect_keyframes,
        ),
        read=ReadOptions(reader=READERS[options.reader], sigma=options.kernel_sigma),
        precision=precision,
        contours=outputs.contours,
        contour_tolerance=outputs.contour_tolerance,
        contour_max_points=max_contour_points,
        adapt=options.adapt,
    )
