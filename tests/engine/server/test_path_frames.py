"""Frames read from the server's disk: only below the roots the operator allowed, whatever the path says."""

from __future__ import annotations

import os
import shutil

import pytest

from protocol import messages as m
from protocol.client import EngineClient
from protocol.errors import ErrorCode, ProtocolError
from tests.engine.server.helpers import propagate_request


@pytest.fixture(scope="module")
def roots(tmp_path_factory, shot):
    """An allowed root holding the shot, and a folder beside it holding a copy that must stay out of reach."""
    base = tmp_path_factory.mktemp("disk")
    allowed, outside = base / "allowed", base / "outside"
    shutil.copytree(shot.folder / "frames", allowed / "sh010")
    shutil.copytree(shot.folder / "frames", outside / "secret")
    os.symlink(outside / "secret", allowed / "link-out")
    shutil.copytree(shot.folder / "frames", allowed / "mixed")
    (allowed / "mixed" / "00003.png").unlink()
    os.symlink(outside / "secret" / "00003.png", allowed / "mixed" / "00003.png")
    return allowed, outside


@pytest.fixture(scope="module")
def rooted(start_engine, roots):
    return start_engine("--allow-root", str(roots[0]))


def files(path) -> m.FrameSource:
    return m.FrameSource(kind="files", path=str(path))


def test_a_folder_inside_an_allowed_root_is_read_by_the_engine(rooted, roots, shot):
    with EngineClient(rooted.endpoint, timeout=20.0) as client:
        session = shot.open(client, files(roots[0] / "sh010"))
        job = client.propagate(session, propagate_request(0, 5))
        assert [r.frame for r in job.results()] == list(range(6))
        assert job.summary.status == "done"
        client.close_session(session)


def test_a_pattern_inside_an_allowed_root_reads_from_first_number(rooted, roots, shot):
    source = m.FrameSource(kind="files", path=str(roots[0] / "sh010" / "#####.png"), first_number=2)
    with EngineClient(rooted.endpoint, timeout=20.0) as client:
        session = client.open_session(shot.open_request(source, frame_count=6)).session
        client.keyframe(session, m.Keyframe(frame=0, labels=shot.labels))
        assert len(list(client.propagate(session, propagate_request(0, 5)).results())) == 6
        client.close_session(session)


@pytest.mark.parametrize(
    "path",
    [
        lambda allowed, outside: outside / "secret",
        lambda allowed, outside: f"{allowed}/../outside/secret",
        lambda allowed, outside: allowed / "link-out",
        lambda allowed, outside: allowed / "mixed",
        lambda allowed, outside: "sh010",
        lambda allowed, outside: "/",
    ],
    ids=["outside", "dot-dot", "symlink out", "a file linked out", "relative", "filesystem root"],
)
def test_paths_that_leave_the_allowed_roots_are_forbidden(rooted, roots, shot, path):
    with EngineClient(rooted.endpoint, timeout=20.0) as client, pytest.raises(ProtocolError) as refused:
        client.open_session(shot.open_request(files(path(*roots))))
    assert refused.value.code == ErrorCode.FORBIDDEN


def test_a_missing_folder_inside_a_root_is_not_found(rooted, roots, shot):
    with EngineClient(rooted.endpoint, timeout=20.0) as client, pytest.raises(ProtocolError) as refused:
        client.open_session(shot.open_request(files(roots[0] / "no-such-shot")))
    assert refused.value.code == ErrorCode.NOT_FOUND


def test_without_allowed_roots_every_path_is_forbidden(client, roots, shot):
    with pytest.raises(ProtocolError) as refused:
        client.open_session(shot.open_request(files(roots[0] / "sh010")))
    assert refused.value.code == ErrorCode.FORBIDDEN
    assert "--allow-root" in refused.value.message


@pytest.mark.parametrize("swapped", ["a frame", "the folder"])
def test_a_link_swapped_in_after_the_session_opened_is_refused_when_the_file_is_opened(
    start_engine, tmp_path, shot, swapped
):
    """Paths are confined when the session opens, and every file again, on its descriptor, as it is opened."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    shutil.copytree(shot.folder / "frames", allowed / "sh020")
    shutil.copytree(shot.folder / "frames", outside / "secret")
    engine = start_engine("--allow-root", str(allowed))
    with EngineClient(engine.endpoint, timeout=20.0) as client:
        session = shot.open(client, files(allowed / "sh020"))
        if swapped == "a frame":
            (allowed / "sh020" / "00003.png").unlink()
            os.symlink(outside / "secret" / "00003.png", allowed / "sh020" / "00003.png")
        else:
            shutil.rmtree(allowed / "sh020")
            os.symlink(outside / "secret", allowed / "sh020")
        job = client.propagate(session, propagate_request(0, 5))
        delivered = [result.frame for result in job.results()]
        assert job.summary.status == "failed" and job.summary.error.code == "forbidden"
        assert "leads outside the folders this engine may read" in job.summary.error.message
        assert 3 not in delivered if swapped == "a frame" else delivered in ([], [0])
        client.close_session(session)
