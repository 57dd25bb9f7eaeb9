"""Scheduled retraining: a cron expression per (dataset, model), checked by the web process.

Each due schedule is claimed with a conditional UPDATE on its ``next_run_at``, so any number of
web processes may check the same database and each run still starts exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pocket_recs.errors import ConfigError
from pocket_recs.service.db import Job, Schedule, User, utcnow
from pocket_recs.service.jobs import JobRequest, checked_params, submit_job
from pocket_recs.service.security import dataset_files, resolve_data_path
from pocket_recs.service.settings import ServiceSettings

logger = logging.getLogger(__name__)


def next_run(cron: str, after: datetime) -> datetime:
    """The first time after ``after`` that ``cron`` (five fields, UTC) names.

    Raises:
        ConfigError: ``cron`` is not a valid cron expression.
    """
    if not croniter.is_valid(cron) or len(cron.split()) != 5:
        raise ConfigError(
            f"cron: {cron!r} is not a cron expression of five fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *' for 03:00 every day"
        )
    result: datetime = croniter(cron, after).get_next(datetime)
    return result


def create_schedule(
    session: Session, owner: User, request: JobRequest, cron: str, settings: ServiceSettings, *, now: datetime | None = None
) -> Schedule:
    """Store a schedule after checking its cron expression and its job request like a job's.

    Raises:
        ConfigError, DataValidationError: as ``submit_job`` and ``next_run``.
    """
    params = checked_params(request.model_type, request.params)
    dataset_files(resolve_data_path(request.data_path, settings.roots))
    schedule = Schedule(
        owner_id=owner.id, model_type=request.model_type, data_path=request.data_path,
        params=params, promote=request.promote, cron=cron,
        next_run_at=next_run(cron, now or utcnow()),
    )
    session.add(schedule)
    session.commit()
    return schedule


def remove_schedule(session: Session, schedule: Schedule) -> None:
    """Delete a schedule; the jobs it started stay in the history."""
    session.execute(update(Job).where(Job.schedule_id == schedule.id).values(schedule_id=None))
    session.delete(schedule)
    session.commit()


def run_due_schedules(
    sessions: sessionmaker[Session], settings: ServiceSettings, enqueue: Callable[[str], None], *, now: datetime | None = None
) -> list[str]:
    """Start a job for every enabled schedule due at ``now``; returns the new job ids."""
    now = now or utcnow()
    started = []
    with sessions() as session:
        due = session.scalars(select(Schedule).where(Schedule.enabled, Schedule.next_run_at <= now)).all()
        for schedule in due:
            claimed = session.execute(
                update(Schedule)
                .where(Schedule.id == schedule.id, Schedule.next_run_at == schedule.next_run_at)
                .values(next_run_at=next_run(schedule.cron, now))
            )
            session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another process started this run
            owner = session.get(User, schedule.owner_id)
            assert owner is not None
            request = JobRequest(
                model_type=schedule.model_type, data_path=schedule.data_path,
                params=schedule.params, promote=schedule.promote,
            )
            try:
                job = submit_job(session, owner, request, settings, schedule_id=schedule.id)
            except (ConfigError, ValueError) as err:
                logger.warning("schedule %s: cannot start a job: %s", schedule.id, err)
                continue
            schedule.last_job_id = job.id
            session.commit()
            enqueue(job.id)
            started.append(job.id)
            logger.info("schedule %s: started job %s (%s)", schedule.id, job.id, schedule.cron)
    return started


class Scheduler:
    """A daemon thread that runs ``run_due_schedules`` every ``interval_s`` seconds."""

    def __init__(self, check: Callable[[], object], interval_s: float) -> None:
        self._check = check
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pocket-recs-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._check()
            except Exception:
                logger.exception("scheduler: checking the schedules failed")
