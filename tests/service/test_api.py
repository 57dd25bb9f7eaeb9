"""The HTTP API, in the embedded setup and against PostgreSQL + RabbitMQ (marked ``services``)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.client import ServiceError, TrainingClient
from pocket_recs.service.app import create_app
from pocket_recs.service.db import Job
from pocket_recs.service.settings import ServiceSettings
from tests.service.conftest import PASSWORD, add_user, settings_for

SMALL_ALS = {"factors": 8, "iterations": 3}


def start_job(client: TestClient, auth: dict[str, str], **body: Any) -> str:
    payload = {"model_type": "als", "data_path": "shop", "params": SMALL_ALS, **body}
    response = client.post("/api/jobs", json=payload, headers=auth)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def wait_until_final(client: TestClient, auth: dict[str, str], job_id: str, timeout_s: float = 180) -> dict[str, Any]:
    """Poll the job's status until it is final."""
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = client.get(f"/training_status/{job_id}", headers=auth).json()
        if status["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


# --- jobs ------------------------------------------------------------------------------------


def test_a_job_trains_evaluates_and_becomes_the_served_version(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/recommend/1").status_code == 503  # nothing served yet
    job_id = start_job(client, auth)
    status = wait_until_final(client, auth, job_id)

    assert status["status"] == "completed", status["error"]
    assert set(status) >= {"job_id", "status", "metrics", "model_path", "created_at", "updated_at"}
    assert status["progress"] == 100.0
    assert status["params"] == SMALL_ALS
    metrics = status["metrics"]
    for name in ("recall_at_k", "precision_at_k", "f1_at_k", "ndcg_at_k", "map_at_k"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["recall_at_k"] > 0.05  # the synthetic shop has real taste signal
    precision, recall = metrics["precision_at_k"], metrics["recall_at_k"]
    assert metrics["f1_at_k"] == pytest.approx(2 * precision * recall / (precision + recall), rel=0.2)
    assert status["version"] == "v1" and Path(status["model_path"]).is_dir()

    # The first completed version is served; recommendations come from it.
    answer = client.get("/recommend/1?k=5").json()
    assert answer["version"] == "v1" and len(answer["items"]) == 5
    assert client.get("/health").json()["current_version"] == "v1"
    history = [job["job_id"] for job in client.get("/api/jobs", headers=auth).json()]
    assert history == [job_id]


def test_seed_001_form_and_status(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/start_training/", headers=auth,
        data={"model_type": "als", "data_path": "shop", "iterations": "2", "factors": "4", "alpha": "5"},
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    status = wait_until_final(client, auth, job_id)
    assert status["status"] == "completed", status["error"]
    assert status["params"] == {"iterations": 2, "factors": 4, "alpha": 5.0}  # typed, not strings


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"model_type": "nope"}, "model_type"),
        ({"params": {"depth": 3}}, "depth"),
        ({"params": {"factors": 0}}, "factors"),
        ({"data_path": "../shop"}, "data_path"),
        ({"data_path": "/etc"}, "data_path"),
        ({"data_path": "missing"}, "data_path"),
    ],
)
def test_bad_job_requests_are_rejected_with_the_field(client: TestClient, auth: dict[str, str], body: dict[str, Any], word: str) -> None:
    payload = {"model_type": "als", "data_path": "shop", **body}
    response = client.post("/api/jobs", json=payload, headers=auth)
    assert response.status_code == 422
    assert word in response.json()["detail"]


def test_a_symlink_out_of_the_data_roots_is_refused(client: TestClient, auth: dict[str, str], data_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("interactions.parquet", "catalog.csv"):
        (outside / name).write_bytes((data_root / "shop" / name).read_bytes())
    link = data_root / f"escape-{tmp_path.name}"
    link.symlink_to(outside, target_is_directory=True)
    try:
        response = client.post("/api/jobs", json={"model_type": "als", "data_path": link.name}, headers=auth)
    finally:
        link.unlink()
    assert response.status_code == 422 and "data_path" in response.json()["detail"]


def test_a_job_on_broken_data_fails_with_the_reason(client: TestClient, auth: dict[str, str], data_root: Path, tmp_path: Path) -> None:
    import pandas as pd

    broken = data_root / f"broken-{tmp_path.name}"
    broken.mkdir()
    (broken / "catalog.csv").write_bytes((data_root / "shop" / "catalog.csv").read_bytes())
    frame = pd.read_parquet(data_root / "shop" / "interactions.parquet").rename(columns={"timestamp": "time"})
    frame.to_parquet(broken / "interactions.parquet")
    job_id = start_job(client, auth, data_path=broken.name)
    status = wait_until_final(client, auth, job_id)
    assert status["status"] == "failed"
    assert "timestamp" in status["error"] and "interactions.parquet" in status["error"]
    assert status["version"] is None


def test_jobs_are_scoped_to_their_owner(client: TestClient, auth: dict[str, str]) -> None:
    job_id = start_job(client, auth)
    other = add_user(client, "bob@example.com")
    assert client.get(f"/training_status/{job_id}", headers=other).status_code == 404
    assert client.get(f"/api/jobs/{job_id}", headers=other).status_code == 404
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=other).status_code == 404
    assert client.get("/api/jobs", headers=other).json() == []
    wait_until_final(client, auth, job_id)


def test_login_is_required_and_checked(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/api/jobs").status_code == 401
    assert client.post("/events", json={"user_id": 1, "item_id": "sku-000001"}).status_code == 401
    assert client.get("/api/jobs", headers={"Authorization": "Bearer forged"}).status_code == 401
    wrong = client.post("/api/token", data={"username": "ann@example.com", "password": "wrong password"})
    assert wrong.status_code == 401
    assert client.get("/api/me", headers=auth).json()["email"] == "ann@example.com"


def test_browser_forms_need_the_csrf_token(client: TestClient, auth: dict[str, str]) -> None:
    login_page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
    assert token is not None
    refused = client.post("/login", data={"email": "ann@example.com", "password": PASSWORD})
    assert refused.status_code == 403
    logged_in = client.post(
        "/login", data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert logged_in.status_code == 303
    form = {"model_type": "als", "data_path": "shop", "factors": "4", "iterations": "2"}
    assert client.post("/start_training/", data=form).status_code == 403  # cookie, no token
    session_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/jobs").text)
    assert session_token is not None
    started = client.post("/start_training/", data={**form, "csrf_token": session_token.group(1)}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
    job_id = started.headers["location"].rsplit("/", 1)[1]
    assert wait_until_final(client, auth, job_id)["status"] == "completed"
    assert "completed" in client.get(f"/jobs/{job_id}").text


def test_versions_promote_and_roll_back(client: TestClient, auth: dict[str, str]) -> None:
    first = wait_until_final(client, auth, start_job(client, auth))
    second = wait_until_final(client, auth, start_job(client, auth, params={"factors": 4, "iterations": 2}))
    assert (first["version"], second["version"]) == ("v1", "v2")
    models = client.get("/api/models", headers=auth).json()
    assert [(m["version"], m["is_current"]) for m in models] == [("v1", True), ("v2", False)]
    assert models[1]["metrics"]["recall_at_k"] == second["metrics"]["recall_at_k"]

    other = add_user(client, "carl@example.com")
    assert client.post("/api/models/v2/promote", headers=other).status_code == 403
    assert client.post("/api/models/v2/promote", headers=auth).json() == {"current": "v2"}
    assert client.get("/recommend/1").json()["version"] == "v2"
    assert client.post("/api/models/rollback", headers=auth).json() == {"current": "v1"}
    assert client.get("/recommend/1").json()["version"] == "v1"
    assert client.post("/api/models/rollback", headers=other).status_code == 403


def test_promote_on_completion(client: TestClient, auth: dict[str, str]) -> None:
    wait_until_final(client, auth, start_job(client, auth))
    wait_until_final(client, auth, start_job(client, auth, promote=True))
    assert client.get("/health").json()["current_version"] == "v2"


def test_recommendation_endpoints_and_feedback(client: TestClient, auth: dict[str, str]) -> None:
    wait_until_final(client, auth, start_job(client, auth))
    item = client.get("/recommend/5?k=1").json()["items"][0]["item_id"]
    for path in (f"/similar/{item}", f"/recommendations/often-bought-together/{item}",
                 "/recommendations/customers-also-bought/5", "/recommend/5?explain=true"):
        answer = client.get(path + ("&" if "?" in path else "?") + "k=3")
        assert answer.status_code == 200, path
        items = answer.json()["items"]
        assert 0 < len(items) <= 3 and all(row["title"] for row in items), path
    assert client.get("/similar/no-such-item").status_code == 404

    # A purchase is learned at once: it leads the user's history and leaves the recommendations.
    assert client.post("/events", json={"user_id": 5, "item_id": item, "event": "purchase"}, headers=auth).status_code == 202
    assert client.get("/api/history/5?k=3").json()["items"][0]["item_id"] == item
    assert item not in [row["item_id"] for row in client.get("/recommend/5?k=10").json()["items"]]
    bad = client.post("/events", json={"user_id": 5, "item_id": item, "event": "wishlist"}, headers=auth)
    assert bad.status_code == 422 and "wishlist" in bad.json()["detail"]


def test_health_metrics_and_openapi(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    client.get("/health")
    assert 'pocket_recs_http_requests_total{method="GET",route="/health",status="200"}' in client.get("/metrics").text
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/start_training/", "/training_status/{job_id}", "/recommend/{user_id}", "/similar/{item_id}",
                 "/recommendations/customers-also-bought/{user_id}", "/recommendations/often-bought-together/{article_id}",
                 "/events", "/api/token", "/api/jobs", "/health"):
        assert path in paths


# --- schedules -------------------------------------------------------------------------------


def test_schedules_start_each_run_once(client: TestClient, auth: dict[str, str]) -> None:
    created = client.post("/api/schedules", headers=auth, json={
        "model_type": "als", "data_path": "shop", "params": SMALL_ALS, "cron": "0 3 * * *"})
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["next_run_at"].endswith("03:00:00+00:00")
    state = client.app.state.service  # type: ignore[attr-defined]
    from datetime import datetime

    due = datetime.fromisoformat(schedule["next_run_at"])
    assert state.run_schedules(now=due - timedelta(seconds=1)) == []
    started = state.run_schedules(now=due + timedelta(seconds=1))
    assert len(started) == 1
    assert state.run_schedules(now=due + timedelta(seconds=2)) == []  # already claimed
    listed = client.get("/api/schedules", headers=auth).json()[0]
    assert listed["last_job_id"] == started[0]
    assert datetime.fromisoformat(listed["next_run_at"]) == due + timedelta(days=1)
    assert wait_until_final(client, auth, started[0])["status"] == "completed"
    bad = client.post("/api/schedules", headers=auth, json={"model_type": "als", "data_path": "shop", "cron": "every day"})
    assert bad.status_code == 422 and "cron" in bad.json()["detail"]
    assert client.delete(f"/api/schedules/{schedule['id']}", headers=auth).status_code == 204
    assert client.get("/api/schedules", headers=auth).json() == []


# --- cancel, restart, client -----------------------------------------------------------------


def test_cancel_a_pending_job(tmp_path: Path, data_root: Path) -> None:
    settings = settings_for("embedded", tmp_path / "home", data_root, in_process_worker=False)
    with TestClient(create_app(settings)) as client:
        auth = add_user(client)
        job_id = start_job(client, auth)
        assert client.post(f"/api/jobs/{job_id}/cancel", headers=auth).json()["status"] == "cancelled"


def test_an_embedded_service_reruns_unfinished_jobs_when_it_starts(tmp_path: Path, data_root: Path) -> None:
    idle = settings_for("embedded", tmp_path / "home", data_root, in_process_worker=False)
    with TestClient(create_app(idle)) as client:
        auth = add_user(client)
        job_id = start_job(client, auth)
        assert client.get(f"/training_status/{job_id}", headers=auth).json()["status"] == "pending"
    working = settings_for("embedded", tmp_path / "home", data_root)
    with TestClient(create_app(working)) as client:
        token = client.post("/api/token", data={"username": "ann@example.com", "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert wait_until_final(client, auth, job_id)["status"] == "completed"


def test_training_client(client: TestClient) -> None:
    add_user(client, "dana@example.com")
    trainer = TrainingClient(http=client)
    with pytest.raises(ServiceError, match="401"):
        trainer.jobs()
    trainer.login("dana@example.com", PASSWORD)
    job_id = trainer.start_training("als", "shop", factors=8, iterations=3)
    final = trainer.wait_for_completion(job_id, timeout_s=180, poll_interval_s=0.2)
    assert final["status"] == "completed" and final["metrics"]["recall_at_k"] > 0
    assert len(trainer.recommend(1, k=4)) == 4
    trainer.send_event(1, trainer.similar(trainer.recommend(1, k=1)[0]["item_id"], k=1)[0]["item_id"], "purchase")
    with pytest.raises(ServiceError, match="422"):
        trainer.start_training("nope", "shop")


def test_every_model_type_is_accepted(client: TestClient, auth: dict[str, str]) -> None:
    from pocket_recs.config import MODEL_NAMES

    types = client.get("/api/model-types").json()
    assert set(types) == set(MODEL_NAMES)
    assert types["als"]["factors"]["default"] == 64


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POCKET_RECS_DATA_ROOTS", f"{tmp_path}/a:{tmp_path}/b")
    monkeypatch.setenv("POCKET_RECS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    monkeypatch.setenv("POCKET_RECS_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
    settings = ServiceSettings()
    assert settings.roots == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]
    assert not settings.embedded_worker and settings.database.startswith("postgresql")
    monkeypatch.setenv("POCKET_RECS_BROKER_URL", "kafka://x")
    with pytest.raises(ValueError, match="broker_url"):
        ServiceSettings()


def test_stale_running_job_is_failed_after_max_attempts(client: TestClient, auth: dict[str, str]) -> None:
    state = client.app.state.service  # type: ignore[attr-defined]
    job_id = start_job(client, auth)
    wait_until_final(client, auth, job_id)
    with state.sessions() as session:
        job = session.get(Job, job_id)
        job.status, job.attempts, job.version = "training", state.settings.max_attempts, None
        session.commit()
    state.runner.run(job_id)
    status = client.get(f"/training_status/{job_id}", headers=auth).json()
    assert status["status"] == "failed" and "worker stopped during training" in status["error"]
    assert ArtifactStore(state.settings.artifacts).current() == "v1"


@pytest.mark.services
def test_two_web_processes_share_online_state_through_redis(tmp_path: Path, data_root: Path) -> None:
    from tests.service.conftest import REDIS_URL, require_services

    require_services(6379)
    home = tmp_path / "home"
    with TestClient(create_app(settings_for("embedded", home, data_root))) as first:
        auth = add_user(first)
        wait_until_final(first, auth, start_job(first, auth))
    # Two apps over the same home and Redis stand for two web processes behind a load balancer.
    settings = settings_for("embedded", home, data_root, redis_url=REDIS_URL, in_process_worker=False)
    with TestClient(create_app(settings)) as web_a, TestClient(create_app(settings)) as web_b:
        token = web_a.post("/api/token", data={"username": "ann@example.com", "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        user = f"visitor-{tmp_path.name}"
        item = web_a.get("/recommend/1?k=1").json()["items"][0]["item_id"]
        assert web_a.post("/events", json={"user_id": user, "item_id": item, "event": "purchase"}, headers=auth).status_code == 202
        assert web_b.get(f"/api/history/{user}").json()["items"][0]["item_id"] == item


@pytest.mark.services
def test_jobs_also_run_over_a_redis_broker(tmp_path: Path, data_root: Path) -> None:
    from tests.service.conftest import REDIS_URL, require_services

    require_services(6379)
    settings = settings_for("embedded", tmp_path / "home", data_root, broker_url=REDIS_URL, in_process_worker=True)
    with TestClient(create_app(settings)) as client:
        auth = add_user(client)
        status = wait_until_final(client, auth, start_job(client, auth))
    assert status["status"] == "completed", status["error"]
