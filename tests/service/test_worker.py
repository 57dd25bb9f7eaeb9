"""Separate worker processes over RabbitMQ and PostgreSQL: a worker killed in the middle of a job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.data.io import write_sample_data
from pocket_recs.service.db import Job
from pocket_recs.service.jobs import JobRequest, submit_job
from pocket_recs.service.queue import JobQueue
from pocket_recs.service.security import create_user
from pocket_recs.service.state import ServiceState
from tests.service.conftest import drop_postgres_schema, settings_for

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def shared_state(tmp_path: Path) -> Iterator[ServiceState]:
    """A service state on PostgreSQL + RabbitMQ that only sends jobs (no worker of its own)."""
    data_root = tmp_path / "data"
    # Large enough that training lasts a few seconds in a fresh process.
    write_sample_data(data_root / "shop", 3_000, 2_000, 150_000, seed=5)
    settings = settings_for("postgres-rabbitmq", tmp_path / "home", data_root, in_process_worker=False)
    state = ServiceState(settings)
    state.start()
    purge(state.queue)
    yield state
    state.stop()
    assert settings.database_url is not None
    drop_postgres_schema(settings.database_url)


def purge(queue: JobQueue) -> None:
    """Drop messages other tests left in the shared RabbitMQ queue."""
    from pocket_recs.service.queue import QUEUE

    queue.broker.flush(QUEUE)


def start_worker(state: ServiceState) -> subprocess.Popen[bytes]:
    settings = state.settings
    env = {
        **os.environ,
        "POCKET_RECS_HOME": str(settings.home),
        "POCKET_RECS_DATABASE_URL": settings.database,
        "POCKET_RECS_BROKER_URL": settings.broker_url,
        "POCKET_RECS_DATA_ROOTS": ":".join(str(root) for root in settings.roots),
        "POCKET_RECS_SECRET_KEY": state.secret,
    }
    command = [sys.executable, "-m", "pocket_recs.cli.app", "worker", "-q"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_status(state: ServiceState, job_id: str, statuses: tuple[str, ...], timeout_s: float = 300) -> Job:
    deadline = time.monotonic() + timeout_s
    while True:
        with state.sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status in statuses:
                return job
        assert time.monotonic() < deadline, f"job stayed {job.status}, expected one of {statuses}"
        time.sleep(0.1)


def test_a_killed_worker_leaves_serving_unchanged_and_the_job_is_retried(shared_state: ServiceState) -> None:
    state = shared_state
    store = ArtifactStore(state.settings.artifacts)
    folder = state.settings.roots[0] / "shop"
    store.fit(folder / "interactions.parquet", folder / "catalog.csv", promote=True)
    assert store.current() == "v1"
    with state.sessions() as session:
        owner = create_user(session, "ops@example.com", "a long password")
        request = JobRequest(model_type="als", data_path="shop", params={"factors": 16, "iterations": 5}, promote=True)
        job_id = submit_job(session, owner, request, state.settings).id
    state.queue.enqueue(job_id)

    first = start_worker(state)
    try:
        wait_for_status(state, job_id, ("training",))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        first.kill()
    with state.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "training" and job.attempts == 1
    assert store.current() == "v1" and store.versions() == ["v1"]  # nothing half-written is served

    # RabbitMQ hands the unacknowledged message to the next worker, which runs the job again.
    second = start_worker(state)
    try:
        job = wait_for_status(state, job_id, ("completed", "failed", "cancelled"))
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    assert job.status == "completed", job.error
    assert job.attempts == 2
    # The killed run's claimed version number is not reused; the retry made the next one.
    assert job.version is not None and store.current() == job.version
    assert store.versions() == ["v1", job.version]
    assert second.returncode == 0
