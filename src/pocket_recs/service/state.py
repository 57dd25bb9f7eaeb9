"""What one service process holds: settings, database, queue, scheduler and the served model."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from pocket_recs.errors import ArtifactError
from pocket_recs.service.db import User, make_engine, make_sessions, migrate
from pocket_recs.service.jobs import JobRunner, unfinished_jobs
from pocket_recs.service.queue import JobQueue
from pocket_recs.service.schedules import Scheduler, run_due_schedules
from pocket_recs.service.security import create_user
from pocket_recs.service.serving import Serving
from pocket_recs.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"
DEMO_DATASET = "demo-shop"


@dataclass
class Metrics:
    """The Prometheus metrics of one app (own registry, so several apps can live in one process)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "pocket_recs_http_requests_total", "HTTP requests by route and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "pocket_recs_http_request_seconds", "HTTP request latency by route.", ["route"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5), registry=self.registry,
        )
        self.jobs = Counter(
            "pocket_recs_jobs_total", "Training jobs submitted, by model type.", ["model_type"],
            registry=self.registry,
        )
        self.events = Counter("pocket_recs_events_total", "Feedback events received.", registry=self.registry)


class ServiceState:
    """Opened by ``start`` (migrations, demo account, worker, scheduler) and closed by ``stop``."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.database)
        self.sessions: sessionmaker[Session] = make_sessions(self.engine)
        self.serving = Serving(settings)
        self.runner = JobRunner(self.sessions, settings, on_completed=lambda job: self.serving.refresh())
        self.queue = JobQueue(settings, self.runner)
        self.secret = settings.secret()
        self.metrics = Metrics()
        self.scheduler: Scheduler | None = None

    def start(self) -> None:
        migrate(self.engine)
        if self.settings.demo:
            self._prepare_demo()
        try:
            self.serving.open()
        except ArtifactError as err:  # the current version does not load: requests answer 503
            logger.error("serving: %s", err)
        if self.settings.embedded_worker:
            self.queue.start_worker()
            if isinstance(self.queue.broker, _stub_broker()):
                # The in-memory queue died with the previous process: run its jobs again.
                with self.sessions() as session:
                    for job_id in unfinished_jobs(session):
                        self.queue.enqueue(job_id)
        if self.settings.scheduler:
            self.scheduler = Scheduler(self.run_schedules, self.settings.scheduler_interval_s)
            self.scheduler.start()

    def run_schedules(self, **kwargs: Any) -> list[str]:
        """Start the jobs of every due schedule (see ``run_due_schedules``)."""
        return run_due_schedules(self.sessions, self.settings, self.queue.enqueue, **kwargs)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self.queue.close()
        self.serving.close()
        self.engine.dispose()

    def _prepare_demo(self) -> None:
        """Demo mode: the demo account and a small synthetic shop in the first data root."""
        from pocket_recs.data.io import write_sample_data

        with self.sessions() as session:
            if session.scalar(select(User).where(User.email == DEMO_EMAIL)) is None:
                create_user(session, DEMO_EMAIL, DEMO_PASSWORD, is_admin=True)
                logger.warning("demo mode: user %s with password %s", DEMO_EMAIL, DEMO_PASSWORD)
        folder = self.settings.roots[0] / DEMO_DATASET
        if not (folder / "interactions.parquet").exists():
            write_sample_data(folder, 500, 300, 20_000, seed=7)
            logger.info("demo mode: sample data in %s", folder)


def _stub_broker() -> type:
    from dramatiq.brokers.stub import StubBroker

    return StubBroker
