"""Float plates over the wire: a session's view, checked against the operator's OpenColorIO config when the
session opens and then applied, and the EXR layer the engine reads.

The engine here is started with the small config of tests/fixtures/ocio (views "Standard" and "Dim", the look
"Double"); Blender's own config is used by the add-on tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from protocol import messages as m
from protocol.client import EngineClient
from protocol.errors import ErrorCode, ProtocolError
from tests.engine.server.helpers import propagate_request
from tests.paths import FIXTURES

CONFIG = FIXTURES / "ocio" / "config.ocio"


@pytest.fixture(scope="module")
def exr_plate(tmp_path_factory, shot) -> Path:
    """The tiny shot's frames as scene-linear EXR files (display values undone), inside the engine's root."""
    folder = tmp_path_factory.mktemp("exr-root") / "sh010"
    folder.mkdir()
    for index, frame in enumerate(shot.frames):
        linear = (frame.astype(np.float32) / 255) ** 2.2
        channels = {name: np.ascontiguousarray(linear[:, :, i]) for i, name in enumerate("RGB")}
        layers = {f"ViewLayer.Denoised.{name}": plane for name, plane in channels.items()}
        black = {f"ViewLayer.Combined.{name}": np.zeros_like(plane) for name, plane in channels.items()}
        for target, written in ((folder, channels), (folder.with_name("layers"), {**layers, **black})):
            target.mkdir(exist_ok=True)
            with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, written) as exr:
                exr.write(str(target / f"plate.{index + 1001}.exr"))
    return folder


@pytest.fixture(scope="module")
def with_config(start_engine, exr_plate):
    return start_engine("--ocio-config", str(CONFIG), "--allow-root", str(exr_plate.parent))


def source(kind: str = "stream", path: str = "", **view) -> m.FrameSource:
    return m.FrameSource(kind=kind, path=path, first_number=1001 if path else 0, view=m.View(**view))


def test_a_view_of_the_config_opens_and_reads_exr_files_through_it(with_config, shot, exr_plate):
    with EngineClient(with_config.endpoint, timeout=30.0) as client:
        files = source("files", str(exr_plate / "plate.####.exr"), view="Dim", look="Double", exposure=0.5)
        session = shot.open(client, files)
        job = client.propagate(session, propagate_request(0, 3))
        assert [result.frame for result in job.results()] == [0, 1, 2, 3]
        assert job.summary.status == "done"
        client.close_session(session)
    assert "Dim on sRGB, look Double, exposure 0.5" in with_config.log()


@pytest.mark.parametrize(
    ("view", "words"),
    [
        ({"view": "AgX"}, "view 'AgX' is not a view of display 'sRGB'"),
        ({"look": "AgX - Punchy"}, "look 'AgX - Punchy' is not in"),
        ({"display": "Display P3"}, "display 'Display P3' is not in"),
    ],
    ids=["view", "look", "display"],
)
def test_a_name_the_config_lacks_is_invalid_field_listing_what_it_has(with_config, shot, view, words):
    with EngineClient(with_config.endpoint, timeout=30.0) as client, pytest.raises(ProtocolError) as refused:
        client.open_session(shot.open_request(source(**view)))
    assert refused.value.code == ErrorCode.INVALID_FIELD
    assert refused.value.details == {"field": "body.source.view"}
    assert words in str(refused.value) and "it has: " in str(refused.value)


def test_an_engine_without_a_config_serves_standard_and_refuses_other_views(start_engine, shot):
    engine = start_engine()
    with EngineClient(engine.endpoint, timeout=30.0) as client:
        client.close_session(client.open_session(shot.open_request(source(view="Standard"))).session)
        with pytest.raises(ProtocolError) as refused:
            client.open_session(shot.open_request(source(view="Dim")))
    assert refused.value.code == ErrorCode.INVALID_FIELD
    assert "needs an OpenColorIO config" in str(refused.value)


def test_a_config_that_cannot_be_read_stops_the_engine_at_start(tmp_path, parity_checkpoint, engine_env):
    (tmp_path / "broken.ocio").write_text("not: [an ocio config")
    for config, words in ((tmp_path / "none.ocio", "does not exist"), (tmp_path / "broken.ocio", "cannot be read")):
        done = subprocess.run(
            [sys.executable, "-m", "engine", "serve", "--checkpoint", str(parity_checkpoint), "--device", "cpu",
             "--bind", "tcp://127.0.0.1:0", "--ocio-config", str(config)],
            capture_output=True, text=True, timeout=120, env=engine_env,
        )  # fmt: skip
        assert done.returncode == 2 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: OpenColorIO config") and words in lines[0], done.stderr


def _mattes(client: EngineClient, shot, frames: m.FrameSource) -> np.ndarray:
    session = shot.open(client, frames)
    job = client.propagate(session, propagate_request(0, 3))
    mattes = np.stack([result.mattes for result in job.results()])
    assert job.summary.status == "done"
    client.close_session(session)
    return mattes


def test_a_named_exr_layer_is_the_plate_the_network_sees(with_config, shot, exr_plate):
    """The Denoised pass holds the plate, the Combined pass black: with the layer named, the results are the
    plate's."""
    layers = exr_plate.with_name("layers") / "plate.####.exr"
    with EngineClient(with_config.endpoint, timeout=30.0) as client:
        plate = _mattes(client, shot, source("files", str(exr_plate / "plate.####.exr")))
        denoised = _mattes(
            client, shot, m.FrameSource(kind="files", path=str(layers), first_number=1001, exr_layer="Denoised")
        )
        combined = _mattes(client, shot, source("files", str(layers)))
    np.testing.assert_array_equal(denoised, plate)
    assert not np.array_equal(combined, plate)


def test_an_exr_layer_the_files_lack_is_invalid_field_naming_the_layers(with_config, shot, exr_plate):
    layers = exr_plate.with_name("layers") / "plate.####.exr"
    files = m.FrameSource(kind="files", path=str(layers), first_number=1001, exr_layer="Shadow")
    with EngineClient(with_config.endpoint, timeout=30.0) as client, pytest.raises(ProtocolError) as refused:
        client.open_session(shot.open_request(files))
    assert refused.value.code == ErrorCode.INVALID_FIELD
    assert "no layer 'Shadow'; its layers: ViewLayer.Combined, ViewLayer.Denoised" in str(refused.value)
