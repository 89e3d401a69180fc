"""The protocol's version, in one place; `docs/protocol.md` is tested to state the same."""

PROTOCOL_VERSION = "1.4"
PROTOCOL_MAJOR = int(PROTOCOL_VERSION.split(".")[0])
TAG_PREFIX = b"maskprop/"
TAG = TAG_PREFIX + str(PROTOCOL_MAJOR).encode("ascii")
