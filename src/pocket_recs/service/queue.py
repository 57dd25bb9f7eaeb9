"""The job queue: Dramatiq over RabbitMQ or Redis, or an in-memory broker with a worker thread.

Only the job id travels through the broker; everything else is in the database. A worker acks
a message after the job has finished, so when a worker process dies mid-job the broker hands
the message to another worker, which runs the job again (see ``JobRunner.run``).
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, ShutdownNotifications, TimeLimit

from pocket_recs.service.jobs import JobRunner
from pocket_recs.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

QUEUE = "pocket-recs-training"
ACTOR = "train"
JOB_TIME_LIMIT_MS = 7 * 24 * 3600 * 1000
"""Dramatiq's default limit is 10 minutes; a training job may take days."""


def make_broker(url: str) -> dramatiq.Broker:
    """The broker for ``url``: ``memory://``, ``amqp://...`` (RabbitMQ) or ``redis://...``.

    Retries are left out: a failed job is stored as failed, and is rerun only when its worker
    died (the broker redelivers unacknowledged messages).
    """
    middleware = [AgeLimit(), TimeLimit(time_limit=JOB_TIME_LIMIT_MS), ShutdownNotifications(), Callbacks(), Pipelines()]
    if url.startswith("memory://"):
        return StubBroker(middleware=middleware)
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, middleware=middleware)
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=url, middleware=middleware)  # type: ignore[no-untyped-call]


class JobQueue:
    """Sends job ids to workers and, in a worker, runs them with a ``JobRunner``."""

    def __init__(self, settings: ServiceSettings, runner: JobRunner) -> None:
        self.settings = settings
        self.broker = make_broker(settings.broker_url)
        self.actor: Any = dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, broker=self.broker)(runner.run)
        self._worker: dramatiq.Worker | None = None

    def enqueue(self, job_id: str) -> None:
        """Hand job ``job_id`` to a worker."""
        self.actor.send(job_id)
        logger.info("queue: sent job %s to %s", job_id, self.settings.broker_url.split("@")[-1])

    def start_worker(self, threads: int | None = None) -> dramatiq.Worker:
        """Start consuming jobs in this process (worker threads); returns the worker."""
        threads = threads or self.settings.worker_threads
        worker = dramatiq.Worker(self.broker, worker_threads=threads)
        # One job per thread at a time: training jobs are long, so no prefetching beyond that.
        worker.queue_prefetch = threads
        worker.start()
        self._worker = worker
        logger.info("queue: worker with %d thread(s) consuming %s", threads, QUEUE)
        return worker

    def join(self, timeout_s: float) -> None:
        """Wait until the in-memory queue is empty and its jobs are done (tests, embedded mode)."""
        if isinstance(self.broker, StubBroker) and self._worker is not None:
            self.broker.join(QUEUE, timeout=int(timeout_s * 1000))
            self._worker.join()

    def close(self) -> None:
        """Stop the worker (if any) and close the broker's connections."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.broker.close()
