"""One client of `bench soak`, as its own process so that the soak can kill it with SIGKILL as a crash would.

It propagates a shot on disk (`frames/*.png` and the keyframe `first.png`) forward from frame 0 through the
server at ENDPOINT, prints `session ID` once its session is open and `result N` after each result, and at the end
writes DIGESTS: the SHA-256 of each frame's mattes, by frame. Comparing digests tells whether a run under load
gave the same mattes as a run alone, without keeping thousands of mattes.

    python -m engine.bench.soak_client ENDPOINT SHOT_FOLDER DIGESTS [--max-size N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import cv2

from engine.io.atomic import write_text_atomic
from protocol import messages as m
from protocol.client import EngineClient

REQUEST_TIMEOUT = 120.0  # seconds: generous, since four clients share two cores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.bench.soak_client")
    parser.add_argument("endpoint")
    parser.add_argument("shot", type=Path)
    parser.add_argument("digests", type=Path)
    parser.add_argument("--max-size", type=int)
    args = parser.parse_args(argv)
    digests = propagate_shot(args.endpoint, args.shot, args.max_size)
    write_text_atomic(args.digests, json.dumps(digests, indent=0) + "\n")
    return 0


def propagate_shot(endpoint: str, shot: Path, max_size: int | None) -> dict[str, str]:
    """Open a session on the shot's files, give it the keyframe, propagate every frame; digests by frame."""
    labels = cv2.imread(str(shot / "first.png"), cv2.IMREAD_UNCHANGED)
    frame_count = len(list((shot / "frames").glob("*.png")))
    height, width = labels.shape
    objects = [m.ObjectSpec(id=int(i), name=f"object {i}") for i in sorted(set(labels.flat) - {0})]
    opening = m.OpenSession(
        frame_count=frame_count,
        width=width,
        height=height,
        objects=objects,
        source=m.FrameSource(kind="files", path=str(shot / "frames")),
    )
    request = m.Propagate(
        first=0,
        last=frame_count - 1,
        direction="forward",
        options=m.PropagateOptions(max_size=max_size),
        outputs=m.Outputs(matte_dtype="uint8", labels=False),
    )
    with EngineClient(endpoint, timeout=REQUEST_TIMEOUT) as client:
        session = client.open_session(opening).session
        _say(f"session {session}")
        client.keyframe(session, m.Keyframe(frame=0, labels=labels))
        digests = {}
        for result in client.propagate(session, request).results():
            digests[str(result.frame)] = hashlib.sha256(result.mattes.tobytes()).hexdigest()
            _say(f"result {len(digests)}")
        client.close_session(session)
    return digests


def _say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
