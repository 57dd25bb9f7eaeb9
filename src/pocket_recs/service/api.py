"""The JSON API: tokens, training jobs, model versions, schedules, recommendations and feedback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pocket_recs.config import MODEL_NAMES
from pocket_recs.errors import ArtifactError
from pocket_recs.online.recommender import Recommendation
from pocket_recs.service.db import Job, Schedule, User
from pocket_recs.service.deps import DB, CurrentUser, State, check_csrf, uses_cookie
from pocket_recs.service.jobs import JobRequest, cancel_job, job_status, model_settings, submit_job
from pocket_recs.service.schedules import create_schedule, remove_schedule
from pocket_recs.service.security import authenticate, create_token, list_datasets

router = APIRouter()
recommendations = APIRouter(tags=["recommendations"])
"""The read endpoints that carry the traffic; included first, so their routes match first."""

K = Annotated[int, Query(ge=1, le=1000, description="How many items.")]
SEED_FORM_FIELDS = ("model_type", "data_path", "promote", "csrf_token")


class Token(BaseModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiJ9..."])
    token_type: str = Field("bearer", examples=["bearer"])


class Item(BaseModel):
    item_id: str | int = Field(examples=["sku-000042"])
    score: float = Field(examples=[0.83])
    title: str = Field("", examples=["Trail running shoe"])
    sources: list[str] = Field(default_factory=list, examples=[["cf", "covis"]])
    because: list[str | int] = Field(default_factory=list, examples=[["sku-000007"]])
    explanation: str = ""


class ItemList(BaseModel):
    version: str | None = Field(examples=["v3"], description="The model version that answered.")
    items: list[Item]


class Event(BaseModel):
    """New feedback from a user, learned at once by the served model."""

    user_id: str | int = Field(examples=["17"])
    item_id: str | int = Field(examples=["sku-000042"])
    event: str | None = Field("view", examples=["purchase"], description="An event type of the config's event_weights.")
    value: float | None = Field(None, description="A preference value instead of an event type (negative: dislike).")
    timestamp: int | None = Field(None, description="Milliseconds since the epoch (default: now).")


class ScheduleRequest(JobRequest):
    cron: str = Field(examples=["0 3 * * *"], description="Five-field cron expression, UTC.")


def _items(state: State, results: list[Recommendation]) -> Any:
    """An ``ItemList`` as JSON. Answered directly, so FastAPI does not validate the library's own
    output again through pydantic on every request (a tenth of the request's CPU)."""
    return JSONResponse({"version": state.serving.version(), "items": [r.to_dict() for r in results]})


def _own_job(session: Session, user: User, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.owner_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return job


# --- login ------------------------------------------------------------------------------------


@router.post("/api/token", response_model=Token, tags=["auth"])
def login_for_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], state: State, session: DB) -> Token:
    """OAuth2 password flow: form fields ``username`` (the email) and ``password``."""
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong email or password", headers={"WWW-Authenticate": "Bearer"})
    return Token(access_token=create_token(user.id, state.secret, minutes=state.settings.token_minutes))


@router.get("/api/me", tags=["auth"])
def me(user: CurrentUser) -> dict[str, Any]:
    """The logged-in user."""
    return {"id": user.id, "email": user.email, "is_admin": user.is_admin}


# --- jobs -------------------------------------------------------------------------------------


@router.post("/api/jobs", status_code=status.HTTP_201_CREATED, tags=["jobs"])
def create_job(request: JobRequest, user: CurrentUser, state: State, session: DB) -> dict[str, Any]:
    """Start a training job; it runs in a background worker. Answers the job's status."""
    job = submit_job(session, user, request, state.settings)
    state.metrics.jobs.labels(job.model_type).inc()
    state.queue.enqueue(job.id)
    return job_status(job)


@router.post("/start_training/", tags=["jobs"], responses={303: {"description": "Browser form: to the job's page"}})
async def start_training(
    request: Request,
    user: CurrentUser,
    state: State,
    _csrf: Annotated[None, Depends(check_csrf)],
    model_type: Annotated[str, Form(examples=["als"])],
    data_path: Annotated[str, Form(examples=["demo-shop"])],
    iterations: Annotated[int | None, Form(ge=1)] = None,
    factors: Annotated[int | None, Form(ge=1)] = None,
    promote: Annotated[bool, Form()] = False,
) -> Any:
    """Seed 001's form: ``model_type``, ``data_path``, ``iterations``, ``factors`` and any other
    setting of the model's config section as further form fields (empty fields are ignored)."""
    form = await request.form()
    params: dict[str, Any] = {
        key: value for key, value in form.items() if key not in SEED_FORM_FIELDS and isinstance(value, str) and value != ""
    }
    job_request = JobRequest(model_type=model_type, data_path=data_path, params=params, promote=promote)
    with state.sessions() as session:
        job = submit_job(session, user, job_request, state.settings)
    state.metrics.jobs.labels(job.model_type).inc()
    state.queue.enqueue(job.id)
    if uses_cookie(request):
        return RedirectResponse(f"/jobs/{job.id}", status_code=status.HTTP_303_SEE_OTHER)
    return {"job_id": job.id, "status": job.status}


@router.get("/training_status/{job_id}", tags=["jobs"])
def training_status(job_id: str, user: CurrentUser, session: DB) -> dict[str, Any]:
    """Seed 001's status: ``job_id``, ``status``, ``metrics`` (``recall_at_k``, ``precision_at_k``,
    ``f1_at_k``, ...), ``model_path``, ``created_at``, ``updated_at``, plus ``progress``."""
    return job_status(_own_job(session, user, job_id))


@router.get("/api/jobs", tags=["jobs"])
def list_jobs(
    user: CurrentUser, session: DB, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    """The user's jobs, newest first."""
    query = select(Job).where(Job.owner_id == user.id)
    if status_filter:
        query = query.where(Job.status == status_filter)
    return [job_status(job) for job in session.scalars(query.order_by(Job.created_at.desc()).limit(limit))]


@router.get("/api/jobs/{job_id}", tags=["jobs"])
def get_job(job_id: str, user: CurrentUser, session: DB) -> dict[str, Any]:
    """One of the user's jobs."""
    return job_status(_own_job(session, user, job_id))


@router.post("/api/jobs/{job_id}/cancel", tags=["jobs"])
def cancel(job_id: str, user: CurrentUser, session: DB) -> dict[str, Any]:
    """Cancel a job: a pending one at once, a running one at its next progress report."""
    return job_status(cancel_job(session, _own_job(session, user, job_id)))


@router.get("/api/model-types", tags=["jobs"])
def model_types() -> dict[str, dict[str, Any]]:
    """Every ``model_type`` and the settings (``params``) it accepts, with defaults."""
    return {name: model_settings(name) for name in MODEL_NAMES}


@router.get("/api/datasets", tags=["jobs"])
def datasets(user: CurrentUser, state: State) -> list[str]:
    """Dataset folders under the data roots (values for ``data_path``)."""
    return list_datasets(state.settings.roots)


# --- model versions ---------------------------------------------------------------------------


@router.get("/api/models", tags=["models"])
def list_models(user: CurrentUser, state: State, session: DB) -> list[dict[str, Any]]:
    """Every model version, oldest first, with the job that made it and its metrics."""
    jobs = {job.version: job for job in session.scalars(select(Job).where(Job.version.is_not(None)))}
    rows = []
    for info in state.serving.store.info():
        job = jobs.get(info["version"])
        rows.append({
            "version": info["version"], "created_at": info["created_at"], "is_current": info["is_current"],
            "job_id": job.id if job else None, "model_type": job.model_type if job else None,
            "data_path": job.data_path if job else None, "metrics": job.metrics if job else None,
        })
    return rows


@router.post("/api/models/{version}/promote", tags=["models"])
def promote(version: Annotated[str, Path(pattern=r"^v[0-9]+$")], request: Request, user: CurrentUser, state: State,
            session: DB, _csrf: Annotated[None, Depends(check_csrf)]) -> Any:
    """Serve ``version`` (the owner of its job, or an admin)."""
    if version not in state.serving.store.versions():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model version {version!r}; see GET /api/models")
    job = session.scalar(select(Job).where(Job.version == version))
    if not user.is_admin and (job is None or job.owner_id != user.id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"only an admin or the owner of its job may promote {version}")
    state.serving.store.promote(version)
    state.serving.refresh()
    return _back(request, {"current": version})


@router.post("/api/models/rollback", tags=["models"])
def rollback(request: Request, user: CurrentUser, state: State, _csrf: Annotated[None, Depends(check_csrf)]) -> Any:
    """Serve the version promoted before the current one (admins)."""
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin may roll back")
    try:
        version = state.serving.store.rollback()
    except ArtifactError as err:  # nothing earlier was promoted, or it no longer loads
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    state.serving.refresh()
    return _back(request, {"current": version})


def _back(request: Request, answer: dict[str, Any]) -> Any:
    """JSON for API clients; browsers (cookie sessions) go back to the page they came from."""
    if uses_cookie(request):
        referer = request.headers.get("referer", "")
        target = "/" + referer.split("://", 1)[-1].split("/", 1)[-1] if referer else "/jobs"
        return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    return answer


# --- schedules --------------------------------------------------------------------------------


def _schedule_dict(schedule: Schedule) -> dict[str, Any]:
    return {
        "id": schedule.id, "model_type": schedule.model_type, "data_path": schedule.data_path,
        "params": schedule.params, "promote": schedule.promote, "cron": schedule.cron,
        "enabled": schedule.enabled, "next_run_at": schedule.next_run_at.isoformat(),
        "last_job_id": schedule.last_job_id,
    }


@router.post("/api/schedules", status_code=status.HTTP_201_CREATED, tags=["schedules"])
def add_schedule(request: ScheduleRequest, user: CurrentUser, state: State, session: DB) -> dict[str, Any]:
    """Retrain ``model_type`` on ``data_path`` on a cron schedule (UTC)."""
    job_request = JobRequest(**request.model_dump(exclude={"cron"}))
    return _schedule_dict(create_schedule(session, user, job_request, request.cron, state.settings))


@router.get("/api/schedules", tags=["schedules"])
def list_schedules(user: CurrentUser, session: DB) -> list[dict[str, Any]]:
    """The user's schedules."""
    return [_schedule_dict(s) for s in session.scalars(select(Schedule).where(Schedule.owner_id == user.id))]


@router.delete("/api/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["schedules"])
def delete_schedule(
    schedule_id: Annotated[int, Path(ge=1, le=2**31 - 1)], user: CurrentUser, session: DB
) -> Response:
    """Stop and delete one of the user's schedules."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or schedule.owner_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule {schedule_id}")
    remove_schedule(session, schedule)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- recommendations --------------------------------------------------------------------------


@recommendations.get("/recommend/{user_id}", response_model=ItemList)
async def recommend(
    user_id: str, state: State, k: K = 10, explain: bool = False,
    brand: str | None = None, category: str | None = None,
) -> Any:
    """The ``k`` best items for a user (popular items for a user the model does not know)."""
    recommender = state.serving.recommender()
    return _items(state, recommender.recommend(user_id, k, explain=explain, brand=brand, category=category))


@recommendations.get("/similar/{item_id}", response_model=ItemList)
async def similar(item_id: str, state: State, k: K = 10) -> Any:
    """Items like ``item_id`` (co-visitation, content and collaborative similarity)."""
    recommender = state.serving.recommender()
    return _items(state, recommender.similar_items(item_id, k))


@recommendations.get("/recommendations/customers-also-bought/{user_id}", response_model=ItemList)
async def customers_also_bought(user_id: str, state: State, k: K = 10) -> Any:
    """Items of the customers most like ``user_id`` (seed 004)."""
    recommender = state.serving.recommender()
    return _items(state, recommender.customers_also_bought(user_id, k))


@recommendations.get("/recommendations/often-bought-together/{article_id}", response_model=ItemList)
async def often_bought_together(article_id: str, state: State, k: K = 10) -> Any:
    """Items bought in the same baskets as ``article_id`` (seed 004)."""
    recommender = state.serving.recommender()
    return _items(state, recommender.often_bought_together(article_id, k))


@recommendations.get("/api/history/{user_id}", response_model=ItemList)
async def history(user_id: str, state: State, k: K = 20) -> Any:
    """A user's most recent items, newest first (training data and online events)."""
    recommender = state.serving.recommender()
    return _items(state, recommender.history(user_id, k))


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, tags=["recommendations"])
def events(event: Event, user: CurrentUser, state: State) -> dict[str, Any]:
    """Learn from new feedback at once: the user's next recommendations reflect it."""
    recommender = state.serving.recommender()
    feedback: str | float = event.value if event.value is not None else (event.event or "view")
    recommender.update(
        event.user_id, event.item_id,
        feedback, timestamp_ms=event.timestamp,
    )
    state.metrics.events.inc()
    return {"accepted": 1, "version": state.serving.version()}


# --- operations -------------------------------------------------------------------------------


@router.get("/health", tags=["operations"])
def health(state: State) -> dict[str, Any]:
    """Whether the database answers and which model version is served."""
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except Exception as err:  # noqa: BLE001 - health reports the failure instead of raising
        database = f"error: {type(err).__name__}"
    try:
        current = state.serving.store.current()
    except ArtifactError as err:
        current = f"error: {err}"
    return {
        "status": "ok" if database == "ok" else "degraded", "database": database,
        "broker": state.settings.broker_url.split("://")[0], "current_version": current,
        "serving_version": state.serving.version(),
    }


@router.get("/metrics", tags=["operations"], response_class=Response)
def metrics(state: State) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
