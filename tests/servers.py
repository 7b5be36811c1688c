"""The web app in a daphne process of its own, for tests that talk to it over real sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_server_process(
    argv: list[str], environment: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """``python -m <argv>`` from the repository root, its output in ``log_path``, in its own
    process group (so a teardown can stop it and anything it started, e.g. uvicorn's workers)."""
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", *argv],
            cwd=ROOT,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def start_daphne(environment: dict[str, str], log_path: Path, port: int) -> subprocess.Popen[bytes]:
    """``daphne webapp.asgi:application`` on 127.0.0.1:``port`` (``start_server_process``)."""
    argv = ["daphne", "-b", "127.0.0.1", "-p", str(port), "webapp.asgi:application"]
    return start_server_process(argv, environment, log_path)
