"""`maskprop info`: what this engine is, for bug reports and for checking a deployment."""

from __future__ import annotations

import argparse
import json
import platform


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")


def run(args: argparse.Namespace) -> int:
    import msgpack
    import numpy
    import torch
    import zmq

    from engine import __version__
    from protocol import PROTOCOL_VERSION

    facts = {
        "engine": __version__,
        "protocol": PROTOCOL_VERSION,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "numpy": numpy.__version__,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "msgpack": ".".join(map(str, msgpack.version)),
    }
    if args.json:
        print(json.dumps(facts))
    else:
        for key, value in facts.items():
            print(f"{key}: {value}")
    return 0
