"""Several web processes on one port, each listening on its own socket (``SO_REUSEPORT``).

uvicorn's ``workers=N`` shares one listening socket: whichever process wakes first accepts every
waiting connection, so a client with a few keep-alive connections (a load balancer, a proxy,
wrk) can end up on one process while the others idle. With one socket per process the kernel
spreads new connections evenly over them. Linux only; elsewhere ``pocket-recs serve`` falls back
to uvicorn's workers.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

logger = logging.getLogger(__name__)

STARTUP_GRACE_S = 10.0
"""A process that dies sooner than this after its start is not restarted: the setup is broken."""


def reuse_port_supported() -> bool:
    """Whether the kernel balances connections over ``SO_REUSEPORT`` sockets (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _web_process(app: str, host: str, port: int, log_level: str) -> None:
    import uvicorn

    config = uvicorn.Config(app, factory=True, log_level=log_level)
    uvicorn.Server(config).run(sockets=[_socket(host, port, reuse_port=True)])


def serve_processes(app: str, *, host: str, port: int, workers: int, log_level: str = "info") -> int:
    """Run ``workers`` uvicorn processes of the app factory ``app`` ("module:function") on
    ``host:port`` until SIGINT or SIGTERM; returns the exit code.

    A process that dies is started again, unless it died within ``STARTUP_GRACE_S`` of its
    start: then all stop and the code is 1.

    Raises:
        OSError: ``host:port`` is taken (checked without ``SO_REUSEPORT``, so a server already
            listening there is not silently joined) or cannot be bound.
    """
    _socket(host, port, reuse_port=False).close()
    context = multiprocessing.get_context("spawn")
    processes: dict[int, tuple[BaseProcess, float]] = {}
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def start(slot: int) -> None:
        process = context.Process(target=_web_process, args=(app, host, port, log_level),
                                  name=f"pocket-recs-web-{slot}")
        process.start()
        processes[slot] = (process, time.monotonic())

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        for slot in range(workers):
            start(slot)
        while not stopping:
            wait([process.sentinel for process, _ in processes.values()], timeout=0.5)
            for slot, (process, started) in list(processes.items()):
                if stopping or process.is_alive():
                    continue
                if time.monotonic() - started < STARTUP_GRACE_S:
                    logger.error("web process %s exited with %s right after its start; stopping",
                                 process.pid, process.exitcode)
                    stopping, code = True, 1
                    break
                logger.warning("web process %s exited with %s; starting another", process.pid, process.exitcode)
                start(slot)
    finally:
        for process, _ in processes.values():
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes its requests and shuts the app down
        for process, _ in processes.values():
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code
