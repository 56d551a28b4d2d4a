"""``personio360 emulate`` on a port already in use: a clear error, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys


def test_emulate_on_a_busy_port_says_so() -> None:
    """A port another program listens on gives exit 2 with error and fix lines."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "personio360", "emulate", "360learning", "--generate", "5",
             "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "fix: choose another --port, or 0 for a free one" in done.stderr
    assert "Traceback" not in done.stderr
