"""``serve_processes``: several web processes on one port, connections spread over all of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from pocket_recs.service.processes import reuse_port_supported, serve_processes
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux only")

SERVE = """
import sys
from pocket_recs.service.processes import serve_processes
sys.exit(serve_processes("tests.service.test_processes:pid_app", host="127.0.0.1", port=int(sys.argv[1]),
                         workers=2, log_level="warning"))
"""


def pid_app() -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    """An ASGI app answering every request with the id of its process."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=REPO)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:  # ready once new connections reach both processes
        assert process.poll() is None, "serve_processes exited"
        assert time.monotonic() < deadline, "the web processes did not start within 60 s"
        try:
            if len({httpx.get(url).text for _ in range(40)}) == 2:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield process, url
    if process.poll() is None:
        process.kill()
        process.wait()


def test_connections_spread_over_every_process_and_sigterm_stops_all(served: tuple[subprocess.Popen[bytes], str]) -> None:
    process, url = served

    # 40 new connections (one request each) reach both processes.
    pids = [int(httpx.get(url).text) for _ in range(40)]
    assert len(set(pids)) == 2
    assert 5 <= pids.count(pids[0]) <= 35

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    for pid in set(pids):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def test_a_taken_port_is_refused_before_any_process_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve_processes("tests.service.test_processes:pid_app", host="127.0.0.1",
                            port=taken.getsockname()[1], workers=2)
