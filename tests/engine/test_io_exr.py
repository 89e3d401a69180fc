"""OpenEXR plates through `engine.io`: plain files, and MultiLayer renders whose image is the Combined pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from engine.io import InputError, open_frames
from engine.io.images import linear_to_srgb8

HEIGHT, WIDTH = 4, 6


def _write(path: Path, channels: dict[str, np.ndarray]) -> Path:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, channels) as exr:
        exr.write(str(path))
    return path


def _plane(value: float, dtype: type = np.float32) -> np.ndarray:
    return np.full((HEIGHT, WIDTH), value, dtype)


def _render_layers(dtype: type = np.float32, view_layer: str = "ViewLayer") -> dict[str, np.ndarray]:
    """Channels as Blender names them in a MultiLayer render: the Combined pass beside other passes."""
    return {
        f"{view_layer}.Combined.R": _plane(0.18, dtype),
        f"{view_layer}.Combined.G": _plane(0.5, dtype),
        f"{view_layer}.Combined.B": _plane(1.0, dtype),
        f"{view_layer}.Combined.A": _plane(1.0, dtype),
        f"{view_layer}.Depth.Z": _plane(7.0, dtype),
        f"{view_layer}.Normal.X": _plane(0.0, dtype),
        f"{view_layer}.Normal.Y": _plane(0.0, dtype),
        f"{view_layer}.Normal.Z": _plane(1.0, dtype),
    }


def _only_frame(folder: Path) -> np.ndarray:
    frames = open_frames(folder)
    assert len(frames) == 1
    return frames[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float", "half"])
def test_a_multilayer_render_reads_as_its_combined_pass_in_display_srgb(tmp_path, dtype):
    _write(tmp_path / "render.0001.exr", _render_layers(dtype))

    frame = _only_frame(tmp_path)

    expected = linear_to_srgb8(np.array([0.18, 0.5, 1.0], np.float32))
    assert frame.shape == (HEIGHT, WIDTH, 3)
    assert (frame == expected).all()


def test_a_plain_rgb_exr_reads_as_before(tmp_path):
    _write(tmp_path / "plate.exr", {"R": _plane(1.0), "G": _plane(0.0), "B": _plane(0.18, np.float16)})

    assert (_only_frame(tmp_path) == linear_to_srgb8(np.array([1.0, 0.0, 0.18], np.float32))).all()


def test_a_file_without_an_image_names_the_layers_it_has(tmp_path):
    passes = {name: plane for name, plane in _render_layers().items() if ".Combined." not in name}
    _write(tmp_path / "passes.exr", passes)

    with pytest.raises(InputError, match=r"no RGB image and no Combined pass .* ViewLayer\.Depth, ViewLayer\.Normal"):
        open_frames(tmp_path)[0]


def test_two_view_layers_are_a_clear_error(tmp_path):
    _write(tmp_path / "both.exr", {**_render_layers(view_layer="Fg"), **_render_layers(view_layer="Bg")})

    with pytest.raises(InputError, match=r"several Combined passes \(Bg\.Combined, Fg\.Combined\)"):
        open_frames(tmp_path)[0]


@pytest.mark.parametrize("keep", [4, 100, -20], ids=["magic-only", "header-cut", "pixels-cut"])
def test_a_truncated_exr_is_a_clear_error(tmp_path, keep):
    data = _write(tmp_path / "full.exr", _render_layers()).read_bytes()
    (tmp_path / "full.exr").unlink()
    (tmp_path / "cut.exr").write_bytes(data[:keep])

    with pytest.raises(InputError, match=r"cut\.exr cannot be decoded"):
        open_frames(tmp_path)[0]
