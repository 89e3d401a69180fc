"""OpenEXR plates through `engine.io`: plain files, MultiLayer renders whose image is the Combined pass, and the
colour space a header declares (colorInteropID, chromaticities), checked against OpenColorIO where it is installed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from engine.io import InputError, open_frames, primaries
from engine.io.exr import decode_exr
from engine.io.exr_colour import INTEROP_SPACES, colour_space
from engine.io.primaries import Chromaticities
from engine.io.view import STANDARD

HEIGHT, WIDTH = 4, 6


def _write(path: Path, channels: dict[str, np.ndarray], attributes: dict[str, object] | None = None) -> Path:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **(attributes or {})}
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

    expected = STANDARD.encode(np.array([0.18, 0.5, 1.0], np.float32))
    assert frame.shape == (HEIGHT, WIDTH, 3)
    assert (frame == expected).all()


def test_a_plain_rgb_exr_reads_as_before(tmp_path):
    _write(tmp_path / "plate.exr", {"R": _plane(1.0), "G": _plane(0.0), "B": _plane(0.18, np.float16)})

    assert (_only_frame(tmp_path) == STANDARD.encode(np.array([1.0, 0.0, 0.18], np.float32))).all()


def test_a_file_without_an_image_names_the_layers_it_has(tmp_path):
    passes = {name: plane for name, plane in _render_layers().items() if ".Combined." not in name}
    _write(tmp_path / "passes.exr", passes)

    with pytest.raises(InputError, match=r"no RGB image and no Combined pass .* ViewLayer\.Depth, ViewLayer\.Normal"):
        open_frames(tmp_path)[0]


def test_two_view_layers_are_a_clear_error(tmp_path):
    _write(tmp_path / "both.exr", {**_render_layers(view_layer="Fg"), **_render_layers(view_layer="Bg")})

    with pytest.raises(InputError, match=r"several Combined passes \(Bg\.Combined, Fg\.Combined\)"):
        open_frames(tmp_path)[0]


def _with_denoised(view_layer: str = "ViewLayer") -> dict[str, np.ndarray]:
    """A render with a Denoised pass (0.5, 0.25, 0) beside its Combined pass."""
    denoised = {f"{view_layer}.Denoised.{c}": _plane(v) for c, v in zip("RGB", (0.5, 0.25, 0.0), strict=True)}
    return {**_render_layers(view_layer=view_layer), **denoised}


@pytest.mark.parametrize("layer", ["ViewLayer.Denoised", "Denoised"], ids=["in full", "by its pass"])
def test_a_named_layer_is_read_instead_of_the_combined_pass(tmp_path, layer):
    _write(tmp_path / "render.0001.exr", _with_denoised())

    frame = open_frames(tmp_path, layer=layer)[0]

    assert (frame == STANDARD.encode(np.array([0.5, 0.25, 0.0], np.float32))).all()
    assert not (frame == _only_frame(tmp_path)).all()  # the Combined pass, read without a layer


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ("Shadow", r"has no layer 'Shadow'; its layers: ViewLayer\.Combined, ViewLayer\.Denoised, ViewLayer\.Depth"),
        ("Depth", r"layer 'ViewLayer\.Depth' of frame .* has the channels Z, not R, G and B"),
        ("Denoised", r"several layers 'Denoised' \(Bg\.Denoised, Fg\.Denoised\); name one in full"),
    ],
    ids=["missing", "not a picture", "ambiguous"],
)
def test_a_layer_that_cannot_be_read_names_the_layers_present(tmp_path, layer, words):
    channels = {**_with_denoised("Fg"), **_with_denoised("Bg")} if layer == "Denoised" else _with_denoised()
    _write(tmp_path / "render.0001.exr", channels)

    with pytest.raises(InputError, match=words):
        open_frames(tmp_path, layer=layer)


def test_a_layer_asked_of_a_plate_that_is_not_exr_is_a_clear_error(tmp_path):
    (tmp_path / "plate.0001.png").write_bytes(cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))[1].tobytes())

    with pytest.raises(InputError, match=r"plate\.0001\.png is not OpenEXR, so it has no layer 'Denoised'"):
        open_frames(tmp_path, layer="Denoised")
    video = tmp_path / "clip.mp4"
    video.touch()
    with pytest.raises(InputError, match=r"video .*clip\.mp4 has no layers"):
        open_frames(video, layer="Denoised")


@pytest.mark.parametrize("keep", [4, 100, -20], ids=["magic-only", "header-cut", "pixels-cut"])
def test_a_truncated_exr_is_a_clear_error(tmp_path, keep):
    data = _write(tmp_path / "full.exr", _render_layers()).read_bytes()
    (tmp_path / "full.exr").unlink()
    (tmp_path / "cut.exr").write_bytes(data[:keep])

    with pytest.raises(InputError, match=r"cut\.exr cannot be decoded"):
        open_frames(tmp_path)[0]


# --- colour spaces: colorInteropID and chromaticities --------------------------------------------------------------

# Scene-linear values a plate holds: inside and outside [0, 1], negative ones, and near-black for the sRGB toe.
SAMPLES = np.array(
    [
        [0.18, 0.18, 0.18],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 1.0],
        [0.5, 0.25, 0.05],
        [4.0, 2.5, 0.75],
        [-0.05, 0.3, 1.2],
        [0.002, 0.03, 0.04],
    ],
    np.float32,
)
ALPHA = 0.25


def _sample_planes(samples: np.ndarray = SAMPLES, prefix: str = "") -> dict[str, np.ndarray]:
    """`samples` (N x 3 RGB) as the channels of a one-row image with a constant alpha."""
    planes = {name: np.ascontiguousarray(samples[None, :, index]) for index, name in enumerate("RGB")}
    planes["A"] = np.full((1, len(samples)), ALPHA, np.float32)
    return {prefix + name: plane for name, plane in planes.items()}


def _write_samples(path: Path, samples: np.ndarray = SAMPLES, **attributes: object) -> Path:
    """A plain RGBA file of `samples`, its header carrying `attributes`."""
    return _write(path, _sample_planes(samples), attributes)


def _decode(path: Path) -> np.ndarray:
    return decode_exr(path.read_bytes(), path)


def _rgb(image: np.ndarray) -> np.ndarray:
    """N x 3 RGB from a decoded one-row B G R A image."""
    return image[0, :, 2::-1]


def _ocio_config():
    """The newest ACES studio config built into OpenColorIO: its colour spaces answer to the interop ids (OCIO 2.5+)."""
    ocio = pytest.importorskip("PyOpenColorIO", reason="OpenColorIO is the reference for the colour conversions")
    return ocio, ocio.Config.CreateFromFile("ocio://studio-config-latest")


def _ocio_convert(source: str, target: str, samples: np.ndarray = SAMPLES) -> np.ndarray:
    """`samples` converted by OpenColorIO, without its fast approximate powers (2e-5 off), so exact to float32."""
    ocio, config = _ocio_config()
    for name in (source, target):
        if config.getColorSpace(name) is None:
            pytest.skip(f"OpenColorIO {ocio.__version__}'s studio config has no colour space {name}")
    pixels = np.ascontiguousarray(samples, np.float32).copy()
    processor = config.getProcessor(source, target).getOptimizedCPUProcessor(ocio.OPTIMIZATION_LOSSLESS)
    processor.applyRGB(pixels)
    return pixels


def _ocio_to_linear_rec709(interop_id: str) -> np.ndarray:
    """OpenColorIO's linear Rec.709 for `SAMPLES` stored in `interop_id`.

    A display space converts to display-referred CIE XYZ D65 (a scene-to-display conversion would apply a view
    transform), which is then read as scene light: what the engine does with a display id.
    """
    if not interop_id.endswith("_display"):
        return _ocio_convert(interop_id, "lin_rec709_scene")
    xyz = _ocio_convert(interop_id, "CIE XYZ-D65 - Display-referred")
    return _ocio_convert("lin_ciexyzd65_scene", "lin_rec709_scene", xyz)


@pytest.mark.parametrize("attributes", [{}, {"colorInteropID": "lin_rec709_scene"}, {"colorInteropID": "unknown"}])
def test_a_linear_rec709_plate_is_left_as_stored(tmp_path, attributes):
    image = _decode(_write_samples(tmp_path / "plate.exr", **attributes))

    assert image.dtype == np.float32
    assert (_rgb(image) == SAMPLES).all()
    assert (image[..., 3] == ALPHA).all()


@pytest.mark.parametrize("interop_id", list(INTEROP_SPACES))
def test_every_supported_interop_id_converts_as_opencolorio_does(tmp_path, interop_id):
    expected = _ocio_to_linear_rec709(interop_id)

    image = _decode(_write_samples(tmp_path / "plate.exr", colorInteropID=interop_id))

    # Matrices agree to float32 rounding; the sRGB ids differ by up to 6e-6 below 0, where OCIO's linear segment
    # has the continuous slope 12.923 and IEC 61966-2-1's has 12.92.
    np.testing.assert_allclose(_rgb(image), expected, rtol=1e-6, atol=1e-5)
    assert (image[..., 3] == ALPHA).all()


@pytest.mark.parametrize(
    ("interop_id", "reference"),
    [("lin_ap1_scene", "ACEScg"), ("lin_ap0_scene", "ACES2065-1"), ("lin_rec2020_scene", "Linear Rec.2020")],
)
def test_aces_and_rec2020_plates_match_opencolorio_to_float32_precision(tmp_path, interop_id, reference):
    expected = _ocio_convert(reference, "Linear Rec.709 (sRGB)")

    image = _decode(_write_samples(tmp_path / "plate.exr", colorInteropID=interop_id))

    np.testing.assert_allclose(_rgb(image), expected, rtol=1e-6, atol=1e-6)


def test_the_matrices_match_published_values():
    # ITU-R BT.709 / IEC 61966-2-1 RGB to XYZ, ACES S-2014-004's AP1 to AP0 (same white, no adaptation), and the
    # ACEScg to linear Rec.709 matrix of the ACES configs (Bradford: CAT02 would be up to 4e-3 off).
    rec709_to_xyz = [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    ap1_to_ap0 = [
        [0.6954522414, 0.1406786965, 0.1638690622],
        [0.0447945634, 0.8596711185, 0.0955343182],
        [-0.0055258826, 0.0040252103, 1.0015006723],
    ]
    acescg_to_rec709 = [[1.70505, -0.62179, -0.08326], [-0.13026, 1.14080, -0.01055], [-0.02400, -0.12897, 1.15297]]

    np.testing.assert_allclose(primaries.rgb_to_xyz(primaries.REC709), rec709_to_xyz, atol=5e-5)
    ap0_from_ap1 = np.linalg.inv(primaries.rgb_to_xyz(primaries.AP0)) @ primaries.rgb_to_xyz(primaries.AP1)
    np.testing.assert_allclose(ap0_from_ap1, ap1_to_ap0, atol=1e-9)
    np.testing.assert_allclose(primaries.rgb_to_rec709(primaries.AP1), acescg_to_rec709, atol=5e-6)
    np.testing.assert_allclose(primaries.rgb_to_rec709(primaries.REC709), np.eye(3), atol=1e-12)


def test_chromaticities_of_acescg_give_the_pixels_of_its_interop_id(tmp_path):
    by_id = _decode(_write_samples(tmp_path / "by-id.exr", colorInteropID="lin_ap1_scene"))

    by_chromaticities = _decode(_write_samples(tmp_path / "by-xy.exr", chromaticities=primaries.AP1.floats()))

    assert (by_chromaticities == by_id).all()
    assert not np.allclose(_rgb(by_id), SAMPLES, atol=1e-2)


def test_chromaticities_of_no_published_set_are_converted_from_their_primaries(tmp_path):
    # Panasonic V-Gamut (D65): not in the table, so the matrix is built from the eight numbers.
    v_gamut = (0.730, 0.280, 0.165, 0.840, 0.100, -0.030, 0.3127, 0.3290)
    expected = _ocio_convert("Linear V-Gamut", "Linear Rec.709 (sRGB)")

    image = _decode(_write_samples(tmp_path / "plate.exr", chromaticities=v_gamut))

    np.testing.assert_allclose(_rgb(image), expected, rtol=1e-5, atol=1e-6)


def test_chromaticities_off_a_published_set_are_not_snapped_to_it(tmp_path):
    near_ap1 = (0.716, *primaries.AP1.floats()[1:])  # red x 3e-3 away: beyond the Forum's 1e-3 tolerance

    image = _decode(_write_samples(tmp_path / "plate.exr", chromaticities=near_ap1))

    stored = Chromaticities.from_floats(np.float32(near_ap1).tolist())  # the file keeps float32
    np.testing.assert_allclose(_rgb(image), SAMPLES @ primaries.rgb_to_rec709(stored).T, rtol=1e-6, atol=1e-6)
    acescg = SAMPLES @ primaries.rgb_to_rec709(primaries.AP1).T
    assert not np.allclose(_rgb(image), acescg, atol=1e-4)


def test_rec709_chromaticities_rounded_by_a_writer_are_rec709(tmp_path):
    rounded = (0.6401, 0.3299, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329)

    image = _decode(_write_samples(tmp_path / "plate.exr", chromaticities=rounded))

    assert (_rgb(image) == SAMPLES).all()


def test_the_interop_id_wins_over_chromaticities(tmp_path):
    both = {"colorInteropID": "lin_rec709_scene", "chromaticities": primaries.AP1.floats()}

    image = _decode(_write_samples(tmp_path / "plate.exr", **both))

    assert (_rgb(image) == SAMPLES).all()


def test_an_unknown_interop_id_falls_back_to_chromaticities(tmp_path):
    tagged = {"colorInteropID": "unknown", "chromaticities": primaries.AP1.floats()}

    image = _decode(_write_samples(tmp_path / "plate.exr", **tagged))

    assert (image == _decode(_write_samples(tmp_path / "ap1.exr", colorInteropID="lin_ap1_scene"))).all()


@pytest.mark.parametrize("interop_id", ["srgb_rec709_scene", "srgb_rec709_display"])
def test_an_srgb_encoded_plate_is_decoded_to_linear(tmp_path, interop_id):
    encoded = np.array([[0.5, 0.0, 1.0]], np.float32)

    image = _decode(_write_samples(tmp_path / "plate.exr", encoded, colorInteropID=interop_id))

    np.testing.assert_allclose(_rgb(image), [[0.214041, 0.0, 1.0]], atol=1e-6)  # IEC 61966-2-1
    assert image[0, 0, 3] == ALPHA


@pytest.mark.parametrize(("interop_id", "expected"), [("srgb_rec709_scene", 0.214041), ("lin_ap1_scene", 0.5)])
def test_a_grey_plate_is_decoded_but_has_no_primaries_to_convert(tmp_path, interop_id, expected):
    _write(tmp_path / "grey.exr", {"Y": _plane(0.5)}, {"colorInteropID": interop_id})

    image = _decode(tmp_path / "grey.exr")

    assert image.shape == (HEIGHT, WIDTH)
    np.testing.assert_allclose(image, expected, atol=1e-6)


@pytest.mark.parametrize("interop_id", ["my-studio:lin_alexa", "ACEScg", "pq_rec2020_display", "lin_ap1"])
def test_an_unsupported_interop_id_is_a_clear_error(tmp_path, interop_id):
    _write_samples(tmp_path / "plate.exr", colorInteropID=interop_id)

    with pytest.raises(InputError, match=r"plate\.exr is in a colour space the engine cannot convert") as error:
        open_frames(tmp_path)[0]

    assert f"colorInteropID '{interop_id}'" in str(error.value)
    assert "supported: lin_rec709_scene, lin_ap0_scene, lin_ap1_scene," in str(error.value)
    assert error.value.path == str(tmp_path / "plate.exr")


def test_a_data_plate_is_refused(tmp_path):
    _write_samples(tmp_path / "normals.exr", colorInteropID="data")

    with pytest.raises(InputError, match=r"normals\.exr holds non-colour data \(colorInteropID 'data'"):
        open_frames(tmp_path)[0]


def test_an_interop_id_that_is_not_a_string_is_a_clear_error(tmp_path):
    _write_samples(tmp_path / "plate.exr", colorInteropID=3)

    with pytest.raises(InputError, match=r"plate\.exr has a colorInteropID that is not a string: 3"):
        open_frames(tmp_path)[0]


@pytest.mark.parametrize(
    ("chromaticities", "why"),
    [
        ((0.2, 0.2, 0.4, 0.4, 0.6, 0.6, 0.3127, 0.329), "the red, green and blue primaries lie on one line"),
        ((0.0,) * 8, "the white point .* has y = 0"),
        ((0.64, 0.33, 0.3, 0.6, float("nan"), 0.06, 0.3127, 0.329), "not every value is a finite number"),
        ((0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.1, 0.1), "the white point is not inside the triangle"),
    ],
    ids=["collinear", "zero", "nan", "white-outside"],
)
def test_degenerate_chromaticities_are_a_clear_error(tmp_path, chromaticities, why):
    _write_samples(tmp_path / "plate.exr", chromaticities=chromaticities)

    with pytest.raises(InputError, match=rf"plate\.exr has unusable chromaticities \(.*\): {why}"):
        open_frames(tmp_path)[0]


def test_chromaticities_that_are_not_eight_numbers_are_a_clear_error():
    # The binding only writes eight floats under this name; another writer may not.
    with pytest.raises(InputError, match=r"plate\.exr has a chromaticities attribute that is not eight numbers"):
        colour_space({"chromaticities": "rec709"}, "plate.exr")


@pytest.mark.parametrize(
    "tag", [{"colorInteropID": "lin_ap1_scene"}, {"chromaticities": primaries.AP1.floats()}], ids=["id", "xy"]
)
def test_a_multilayer_render_converts_its_combined_pass(tmp_path, tag):
    (tmp_path / "shot").mkdir()
    depth = np.full((1, len(SAMPLES)), 7.0, np.float32)
    _write(
        tmp_path / "shot" / "render.0001.exr",
        {**_sample_planes(prefix="ViewLayer.Combined."), "ViewLayer.Depth.Z": depth},
        tag,
    )
    plain = _decode(_write_samples(tmp_path / "plain.exr", colorInteropID="lin_ap1_scene"))

    assert (_decode(tmp_path / "shot" / "render.0001.exr") == plain).all()
    assert (_only_frame(tmp_path / "shot") == STANDARD.encode(_rgb(plain))[None]).all()
