"""What the engine says about itself in `hello_reply`: its versions, the network it loaded, and what it can do."""

from __future__ import annotations

import engine
from engine.propagation.settings import READERS
from engine.server.config import EngineFacts, ServerConfig
from engine.server.results import MATTE_SCALE
from protocol import messages as m
from protocol.version import PROTOCOL_VERSION


def hello_reply(config: ServerConfig, facts: EngineFacts, engine_id: str) -> m.HelloReply:
    """The handshake's answer; `engine_id` names this process, so that a client tells a restarted engine."""
    limits = config.limits
    return m.HelloReply(
        engine_version=engine.__version__,
        protocol_version=PROTOCOL_VERSION,
        model=m.ModelInfo(name=facts.model, checkpoint=facts.checkpoint, parameters=facts.parameters),
        device=facts.device,
        capabilities=m.Capabilities(
            max_objects=limits.max_objects,
            max_frame_width=limits.max_frame_width,
            max_frame_height=limits.max_frame_height,
            max_message_bytes=limits.max_message_bytes,
            max_sessions=config.max_sessions,
            frame_window=config.frame_window,
            frame_dtypes=["uint8", "uint16", "float16", "float32"],
            matte_dtypes=list(MATTE_SCALE),
            readers=list(READERS),
            frame_sources=["stream", "files"],
            contours=True,
        ),
        heartbeat_interval=config.heartbeat_interval,
        engine_id=engine_id,
    )
