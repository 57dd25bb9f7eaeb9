"""A real uvicorn server around ``create_app(settings)``, in a background thread of the test
process, on a free loopback port (for the browser and schema tests)."""

from __future__ import annotations

import socket
import threading
from typing import Any, Self

import httpx
import uvicorn


class LiveServer:
    """``with LiveServer(app) as server:`` serves ``app`` at ``server.url`` until the block ends."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> Self:
        # Listening before uvicorn starts: the first request waits in the backlog until the app
        # has started (migrations, worker) and uvicorn accepts it, so no polling is needed.
        self.socket.listen()
        self.thread.start()
        answer = httpx.get(f"{self.url}/health", timeout=120.0)
        if answer.status_code != 200:
            raise RuntimeError(f"{self.url}/health answered {answer.status_code}: {answer.text}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.socket.close()
