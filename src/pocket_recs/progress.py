"""Progress reporting and step measurement shared by every long-running piece of work.

Library code reports progress to a :class:`Progress` it is handed and never picks a renderer:
the CLI passes a terminal bar, the service's worker passes one that updates the job row, and
the default (``None``) is silent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Self

import psutil


class Progress:
    """Receives the progress of long work; this base class ignores everything it is told."""

    def start(self, name: str, total: float | None = None) -> None:
        """A new task called ``name`` begins; ``total`` units of work if known."""

    def advance(self, amount: float = 1.0, **info: float | str) -> None:
        """``amount`` more units are done; ``info`` carries figures to show (e.g. ``loss``)."""

    def finish(self) -> None:
        """The current task has ended."""


SILENT = Progress()


@contextmanager
def progress_task(
    progress: Progress | None, name: str, total: float | None = None
) -> Iterator[Progress]:
    """Run a block as one progress task; yields a Progress that is never None."""
    reporter = progress or SILENT
    reporter.start(name, total)
    try:
        yield reporter
    finally:
        reporter.finish()


@dataclass
class StepStats:
    """Wall time and peak resident memory of one step."""

    seconds: float = 0.0
    peak_rss_mb: float = 0.0


class _PeakRssSampler:
    """Samples this process's resident memory in a background thread and keeps the maximum."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self._process = psutil.Process()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak_bytes = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)


@contextmanager
def measure_step(stats: dict[str, StepStats], name: str) -> Iterator[StepStats]:
    """Record the seconds and peak resident memory of a block into ``stats[name]``."""
    record = stats.setdefault(name, StepStats())
    start = time.perf_counter()
    with _PeakRssSampler() as sampler:
        try:
            yield record
        finally:
            record.seconds = time.perf_counter() - start
    record.peak_rss_mb = sampler.peak_bytes / 2**20


def release_freed_memory() -> None:
    """Hand memory that was freed but kept by the C allocator back to the system.

    glibc keeps what worker threads free in per-thread arenas; after a thread pool of large
    temporaries (the text encoder's activations) that is hundreds of MB of resident memory no
    one uses. ``malloc_trim`` returns it; elsewhere (other C libraries) this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (e.g. musl has no malloc_trim)
        return
