from __future__ import annotations

import threading

import psutil

from pocket_recs.progress import StepStats, measure_step, release_freed_memory


def test_measure_step_records_seconds_and_peak_memory() -> None:
    steps: dict[str, StepStats] = {}
    with measure_step(steps, "work"):
        block = bytearray(64 * 2**20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        del block
    assert steps["work"].seconds > 0
    assert steps["work"].peak_rss_mb >= 64


def test_release_freed_memory_returns_what_a_thread_freed() -> None:
    process = psutil.Process()
    kept: list[bytearray] = []

    def churn() -> None:
        # 190 MB of 64 KB blocks (below glibc's mmap threshold) in the thread's arena; the last
        # one stays alive, so the freed ones below it cannot be trimmed from the heap's top.
        blocks = [bytearray(b"x" * 65536) for _ in range(3000)]
        kept.append(blocks[-1])
        del blocks

    worker = threading.Thread(target=churn)
    worker.start()
    worker.join()
    before = process.memory_info().rss
    release_freed_memory()
    assert before - process.memory_info().rss > 100 * 2**20
