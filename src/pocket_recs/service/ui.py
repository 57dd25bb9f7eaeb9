"""The web UI: server-rendered pages over the same functions as the JSON API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from pocket_recs.config import MODEL_NAMES
from pocket_recs.errors import ArtifactError, UnknownIdError
from pocket_recs.service.db import Job, User
from pocket_recs.service.deps import DB, State, check_csrf, optional_user
from pocket_recs.service.jobs import STATUSES, job_status, model_settings
from pocket_recs.service.security import authenticate, list_datasets, new_csrf_token

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

CHART_METRICS = ("recall_at_k", "precision_at_k", "f1_at_k", "ndcg_at_k", "map_at_k")
MaybeUser = Annotated[User | None, Depends(optional_user)]


def _csrf(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = new_csrf_token()
    token: str = request.session["csrf"]
    return token


def _page(request: Request, name: str, user: User | None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"user": user, "csrf_token": _csrf(request), **context}
    )


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/", response_model=None)
def home(request: Request, user: MaybeUser) -> Response:
    return RedirectResponse("/jobs" if user else "/login", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/login", response_model=None)
def login_page(request: Request, user: MaybeUser, next: str = "/jobs") -> Response:
    return _page(request, "login.html", user, next=next if next.startswith("/") else "/jobs", error=None)


@router.post("/login", response_model=None)
def login(
    request: Request, session: DB, _csrf_ok: Annotated[None, Depends(check_csrf)],
    email: Annotated[str, Form()], password: Annotated[str, Form()], next: Annotated[str, Form()] = "/jobs",
) -> Response:
    user = authenticate(session, email, password)
    if user is None:
        response = _page(request, "login.html", None, next=next, error="Wrong email or password.")
        response.status_code = status.HTTP_401_UNAUTHORIZED
        return response
    request.session.clear()
    request.session["user_id"] = user.id
    request.session["csrf"] = new_csrf_token()
    target = next if next.startswith("/") and not next.startswith("//") else "/jobs"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout", response_model=None)
def logout(request: Request, _csrf_ok: Annotated[None, Depends(check_csrf)]) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/jobs", response_model=None)
def jobs_page(request: Request, user: MaybeUser, state: State, session: DB) -> Response:
    if user is None:
        return _to_login(request)
    jobs = session.scalars(select(Job).where(Job.owner_id == user.id).order_by(Job.created_at.desc()).limit(200))
    return _page(
        request, "jobs.html", user, jobs=[job_status(job) for job in jobs],
        model_types={name: model_settings(name) for name in MODEL_NAMES},
        datasets=list_datasets(state.settings.roots), final=("completed", "failed", "cancelled"),
    )


@router.get("/jobs/{job_id}", response_model=None)
def job_page(job_id: str, request: Request, user: MaybeUser, state: State, session: DB) -> Response:
    if user is None:
        return _to_login(request)
    job = session.get(Job, job_id)
    if job is None or job.owner_id != user.id:
        return _page(request, "missing.html", user, what=f"job {job_id}")
    current = state.serving.store.current() if state.serving.store.root.exists() else None
    versions = session.scalars(
        select(Job).where(Job.status == "completed", Job.data_path == job.data_path).order_by(Job.created_at)
    ).all()
    rows = [{**job_status(v), "is_current": v.version == current} for v in versions]
    return _page(request, "job.html", user, job=job_status(job), versions=rows, chart=metric_chart(rows, job.id),
                 statuses=STATUSES)


@router.post("/jobs/{job_id}/cancel", response_model=None)
def cancel_page(job_id: str, request: Request, user: MaybeUser, session: DB,
                _csrf_ok: Annotated[None, Depends(check_csrf)]) -> Response:
    from pocket_recs.service.jobs import cancel_job

    if user is None:
        return _to_login(request)
    job = session.get(Job, job_id)
    if job is not None and job.owner_id == user.id:
        cancel_job(session, job)
    return RedirectResponse(f"/jobs/{job_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/browse", response_model=None)
def browse(request: Request, user: MaybeUser, state: State, user_id: str = "", item_id: str = "", k: int = 10) -> Response:
    if user is None:
        return _to_login(request)
    context: dict[str, Any] = {"user_id": user_id, "item_id": item_id, "error": None, "version": None}
    try:
        recommender = state.serving.recommender()
        context["version"] = state.serving.version()
        if user_id:
            context["history"] = recommender.history(user_id, k)
            context["recommendations"] = recommender.recommend(user_id, k, explain=True)
        if item_id:
            context["item_title"] = recommender.item_frame([item_id]).iloc[0].get("title", "")
            context["similar"] = recommender.similar_items(item_id, k)
            context["together"] = recommender.often_bought_together(item_id, k)
    except (ArtifactError, UnknownIdError) as err:
        context["error"] = err.args[0] if err.args else str(err)
    return _page(request, "browse.html", user, **context)


def metric_chart(rows: list[dict[str, Any]], highlight: str, *, width: int = 640, height: int = 220) -> dict[str, Any]:
    """Bar geometry of each metric for each completed version (an SVG drawn by job.html)."""
    series = [row for row in rows if row["metrics"]]
    if not series:
        return {"groups": [], "width": width, "height": height}
    top = max(max(row["metrics"].get(m, 0.0) for m in CHART_METRICS) for row in series) or 1.0
    group_width = (width - 40) / len(CHART_METRICS)
    bar_width = max(min(group_width / (len(series) + 1), 40), 2)
    groups = []
    for g, metric in enumerate(CHART_METRICS):
        bars = []
        for b, row in enumerate(series):
            value = float(row["metrics"].get(metric, 0.0))
            bar_height = (height - 40) * value / top
            bars.append({
                "x": 30 + g * group_width + b * bar_width, "y": height - 20 - bar_height, "w": bar_width * 0.9,
                "h": bar_height, "value": value, "label": row["version"] or row["job_id"][:8],
                "highlight": row["job_id"] == highlight,
            })
        groups.append({"metric": metric.removesuffix("_at_k"), "x": 30 + g * group_width + group_width / 2 - 10, "bars": bars})
    return {"groups": groups, "width": width, "height": height}
