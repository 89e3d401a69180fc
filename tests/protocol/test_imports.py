"""The protocol package runs inside Blender's Python, where torch is not installed."""

import subprocess
import sys


def test_the_protocol_and_its_client_import_without_torch():
    code = (
        "import sys, protocol, protocol.client, protocol.curve\n"
        "assert 'torch' not in sys.modules, 'protocol imported torch'\n"
        "assert not [m for m in sys.modules if m == 'engine' or m.startswith('engine.')], 'protocol imported engine'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
