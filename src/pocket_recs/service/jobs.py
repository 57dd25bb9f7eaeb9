"""Training jobs: what a job may ask for, and the work a worker does for it.

A job moves through ``pending -> loading_data -> preprocessing -> training -> evaluating ->
completed`` (or ``failed`` / ``cancelled``). ``training`` fits a new version of the artifact store
on the whole dataset; ``evaluating`` fits the model again on a temporal split (per user, the last
10% of events held out) and stores its metrics on the held-out part.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.config import MODEL_NAMES, RecommenderConfig
from pocket_recs.data.io import load_dataset
from pocket_recs.errors import ConfigError, PocketRecsError
from pocket_recs.evaluation.harness import evaluate_model, prepare
from pocket_recs.evaluation.splits import make_split
from pocket_recs.models.registry import CF_MODEL_PREFERENCE, CONFIG_SECTIONS, create_model
from pocket_recs.progress import Progress
from pocket_recs.service.db import Job, User, utcnow
from pocket_recs.service.security import dataset_files, resolve_data_path
from pocket_recs.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

RUNNING = ("loading_data", "preprocessing", "training", "evaluating")
TERMINAL = ("completed", "failed", "cancelled")
STATUSES = ("pending", *RUNNING, *TERMINAL)

# Share of the progress bar each stage covers, and how many progress tasks it usually reports
# (the fit pipeline's steps), so the percentage moves smoothly within a stage.
STAGE_SPAN = {"loading_data": (0, 5), "preprocessing": (5, 10), "training": (10, 80), "evaluating": (80, 99)}
STAGE_TASKS = {"loading_data": 1, "preprocessing": 1, "training": 10, "evaluating": 1}
VALIDATION_FRACTION = 0.1
"""Share of each user's newest events held out to judge a job's model."""
PROGRESS_WRITE_S = 0.5


class JobRequest(BaseModel):
    """What a training job should do (the JSON body of ``POST /api/jobs``)."""

    model_type: str = Field(examples=["als"], description=f"One of: {', '.join(MODEL_NAMES)}.")
    data_path: str = Field(examples=["shop"], description="A dataset folder under a data root.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"factors": 64, "iterations": 15}],
        description="Settings of the model's config section (e.g. als: factors, iterations).",
    )
    promote: bool = Field(False, description="Serve the new version as soon as the job completes.")


def model_settings(model_type: str) -> dict[str, dict[str, Any]]:
    """The settings a ``model_type`` accepts: name -> {default, description}."""
    section = CONFIG_SECTIONS.get(model_type)
    if section is None:
        return {}
    config_class = type(getattr(RecommenderConfig(), section))
    return {
        name: {"default": field.default, "description": field.description or ""}
        for name, field in config_class.model_fields.items()
        if isinstance(field.default, int | float | str | bool) or field.default is None
    }


def job_config(model_type: str, params: dict[str, Any]) -> RecommenderConfig:
    """The ``RecommenderConfig`` of a job: ``model_type`` with ``params`` in its section.

    Raises:
        ConfigError: unknown model type, or a parameter the model does not have or a bad value.
    """
    if model_type not in MODEL_NAMES:
        raise ConfigError(f"model_type: unknown model {model_type!r}; known: {', '.join(MODEL_NAMES)}")
    section = CONFIG_SECTIONS.get(model_type)
    unknown = sorted(set(params) - set(model_settings(model_type)))
    if unknown:
        known = ", ".join(model_settings(model_type)) or "none"
        raise ConfigError(f"params: {model_type} has no setting {unknown[0]!r}; its settings: {known}")
    data = RecommenderConfig().model_dump()
    if section is not None:
        data[section].update(params)
    # customers-also-bought needs userknn beside the job's model.
    data["models"] = (model_type,) if model_type == "userknn" else (model_type, "userknn")
    data["hybrid"]["cf_model"] = model_type if model_type in CF_MODEL_PREFERENCE else None
    return RecommenderConfig.model_validate(data)


def checked_params(model_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` validated and converted to their types (form fields arrive as strings).

    Raises:
        ConfigError: as ``job_config``.
    """
    config = job_config(model_type, params)
    section = CONFIG_SECTIONS.get(model_type)
    return {name: getattr(getattr(config, section), name) for name in params} if section else {}


def submit_job(session: Session, owner: User, request: JobRequest, settings: ServiceSettings, *, schedule_id: int | None = None) -> Job:
    """Check a request (model, parameters, data folder and its files) and store it as pending.

    Raises:
        ConfigError: bad model type or parameters.
        DataValidationError: the data path is outside the data roots or lacks its files.
    """
    params = checked_params(request.model_type, request.params)
    dataset_files(resolve_data_path(request.data_path, settings.roots))
    job = Job(
        id=str(uuid.uuid4()), owner_id=owner.id, model_type=request.model_type, data_path=request.data_path,
        params=params, promote=request.promote, schedule_id=schedule_id,
    )
    session.add(job)
    session.commit()
    logger.info("job %s: submitted (%s on %s) by %s", job.id, job.model_type, job.data_path, owner.email)
    return job


def cancel_job(session: Session, job: Job) -> Job:
    """Cancel a pending job at once; ask a running one to stop at its next progress report."""
    if job.status == "pending":
        _finish(job, "cancelled", error="cancelled before it started")
    elif job.status in RUNNING:
        job.cancel_requested = True
    session.commit()
    return job


def unfinished_jobs(session: Session) -> list[str]:
    """Ids of jobs not yet in a final state, oldest first (re-queued when an embedded service starts)."""
    rows = session.scalars(select(Job.id).where(Job.status.not_in(TERMINAL)).order_by(Job.created_at))
    return list(rows)


def job_status(job: Job) -> dict[str, Any]:
    """Seed 001's ``/training_status`` answer, plus progress, stage, error and version."""
    metrics = job.metrics or {}
    return {
        "job_id": job.id,
        "status": job.status,
        "model_type": job.model_type,
        "data_path": job.data_path,
        "params": job.params,
        "progress": round(job.progress, 1),
        "stage_detail": job.stage_detail,
        "metrics": metrics,
        "model_path": job.model_path,
        "version": job.version,
        "error": job.error,
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


class JobCancelled(Exception):
    """Raised inside a running job when its owner asked to cancel it."""


class JobProgress(Progress):
    """Writes a running job's stage, percentage and current task to its row (at most twice a
    second) and stops the job when a cancel was requested."""

    def __init__(self, sessions: sessionmaker[Session], job_id: str) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self.stage = "pending"
        self.tasks_done = 0
        self.task = ""
        self.total: float | None = None
        self.done = 0.0
        self._written = 0.0

    def enter(self, stage: str) -> None:
        """The job moves to ``stage`` (one of ``RUNNING``)."""
        self.stage, self.tasks_done, self.task, self.total, self.done = stage, 0, "", None, 0.0
        self._write(force=True)

    def start(self, name: str, total: float | None = None) -> None:
        self.task, self.total, self.done = name, total, 0.0
        self._write()

    def advance(self, amount: float = 1.0, **info: float | str) -> None:
        self.done += amount
        self._write()

    def finish(self) -> None:
        self.tasks_done += 1
        self.task, self.total, self.done = "", None, 0.0
        self._write()

    def percent(self) -> float:
        """The job's progress in percent, estimated from the stage and its tasks."""
        low, high = STAGE_SPAN.get(self.stage, (0, 0))
        within = self.done / self.total if self.total else 0.0
        fraction = min((self.tasks_done + min(within, 1.0)) / STAGE_TASKS.get(self.stage, 1), 0.98)
        return low + (high - low) * fraction

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < PROGRESS_WRITE_S:
            return
        self._written = now
        with self.sessions() as session:
            job = session.get(Job, self.job_id)
            assert job is not None
            if job.cancel_requested:
                raise JobCancelled(self.job_id)
            job.status = self.stage
            job.progress = self.percent()
            job.stage_detail = f"{self.task} {self.done:.0f}/{self.total:.0f}" if self.task and self.total else self.task
            session.commit()


@dataclass
class JobRunner:
    """Runs jobs for a worker: the database, the artifact store and the settings they use."""

    sessions: sessionmaker[Session]
    settings: ServiceSettings
    on_completed: Callable[[Job], None] | None = None

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore(self.settings.artifacts)

    def run(self, job_id: str) -> None:
        """Run job ``job_id`` to a final state; a job already final is left alone.

        A job found in a running state was started by a worker that died (its message came back
        from the broker): it runs again, until ``max_attempts`` runs were started.
        """
        with self.sessions() as session:
            job = session.get(Job, job_id)
            if job is None or job.status in TERMINAL:
                logger.info("job %s: nothing to do (%s)", job_id, "unknown" if job is None else job.status)
                return
            if job.status in RUNNING:
                logger.warning("job %s: its previous worker stopped during %s", job_id, job.status)
            if job.attempts >= self.settings.max_attempts:
                _finish(job, "failed", error=f"the worker stopped during {job.status} in each of "
                        f"{job.attempts} attempts; not retried again")
                session.commit()
                return
            job.attempts += 1
            job.started_at = utcnow()
            job.error = None
            session.commit()
        progress = JobProgress(self.sessions, job_id)
        try:
            version, metrics = self._work(job, progress)
        except JobCancelled:
            self._close(job_id, "cancelled", error="cancelled while running")
        except Exception as err:
            logger.exception("job %s: failed", job_id)
            message = str(err) if isinstance(err, PocketRecsError) else f"{type(err).__name__}: {err}"
            self._close(job_id, "failed", error=f"{message}\n\n{traceback.format_exc(limit=8)}")
        else:
            self._complete(job_id, version, metrics)

    def _work(self, job: Job, progress: JobProgress) -> tuple[str, dict[str, Any]]:
        config = job_config(job.model_type, job.params)
        progress.enter("loading_data")
        interactions, catalog_path = dataset_files(resolve_data_path(job.data_path, self.settings.roots))
        log, catalog = load_dataset(interactions, catalog_path, config)
        progress.enter("preprocessing")
        split = make_split(log, "temporal-user", validation_fraction=VALIDATION_FRACTION, test_fraction=VALIDATION_FRACTION)
        prepared = prepare(split, config, part="validation", catalog=catalog)
        progress.enter("training")
        version = self.store.fit(interactions, catalog_path, config, progress=progress)
        try:
            progress.enter("evaluating")
            k = self.settings.metrics_k
            raw = evaluate_model(prepared, create_model(job.model_type, config), (k,), progress=progress)
        except BaseException:
            self.store.remove(version)
            raise
        return version, seed_metrics(raw, k, users=len(prepared.users))

    def _complete(self, job_id: str, version: str, metrics: dict[str, Any]) -> None:
        store = self.store
        with self.sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.promote or store.current() is None:
                store.promote(version)
            job.version = version
            job.model_path = str(store.path(version))
            job.metrics = metrics
            job.progress = 100.0
            _finish(job, "completed")
            session.commit()
            logger.info("job %s: completed as %s (recall@%s %.4f)", job_id, version, metrics["k"], metrics["recall_at_k"])
            if self.on_completed is not None:
                self.on_completed(job)

    def _close(self, job_id: str, status: str, *, error: str) -> None:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None
            _finish(job, status, error=error)
            session.commit()
        logger.info("job %s: %s", job_id, status)


def seed_metrics(raw: dict[str, float], k: int, *, users: int) -> dict[str, Any]:
    """Seed 001's metric names (``recall_at_k``, ``precision_at_k``, ``f1_at_k``) and the rest."""
    return {
        "k": k,
        "recall_at_k": raw[f"recall@{k}"],
        "precision_at_k": raw[f"precision@{k}"],
        "f1_at_k": raw[f"f1@{k}"],
        "ndcg_at_k": raw[f"ndcg@{k}"],
        "map_at_k": raw[f"map@{k}"],
        "users": users,
        "fit_seconds": raw["fit_seconds"],
        "score_seconds": raw["score_seconds"],
        "split": f"temporal per user, newest {VALIDATION_FRACTION:.0%} of each user's events held out",
    }


def _finish(job: Job, status: str, *, error: str | None = None) -> None:
    job.status = status
    job.error = error
    job.cancel_requested = False
    job.finished_at = utcnow()

