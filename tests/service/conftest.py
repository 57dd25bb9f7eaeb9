"""Fixtures of the service tests: a data root with a small shop, settings, a client, a user.

``service_settings`` is parametrised: the embedded setup (SQLite, in-memory broker, worker
thread) always, and PostgreSQL + RabbitMQ for tests marked ``services`` (skipped without them,
failing in strict mode).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pocket_recs.data.io import write_sample_data
from pocket_recs.service.app import create_app
from pocket_recs.service.settings import ServiceSettings
from tests.conftest import skip_or_fail

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "correct horse battery"


def reachable(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_services(*ports: int) -> None:
    """Skip (fail in strict mode) unless every port answers."""
    missing = [port for port in ports if not reachable(port)]
    if missing:
        skip_or_fail(f"services on 127.0.0.1 ports {missing} are not running")


def fresh_postgres_schema() -> str:
    """A PostgreSQL URL whose tables live in a new, empty schema (tests stay independent)."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding the dataset ``shop`` (300 users, 120 items, 6,000 events)."""
    root = tmp_path_factory.mktemp("data-root")
    write_sample_data(root / "shop", 300, 120, 6_000, seed=11)
    return root


def settings_for(backend: str, home: Path, data_root: Path, **extra: Any) -> ServiceSettings:
    """Settings of one backend: ``embedded`` or ``postgres-rabbitmq`` (a worker thread in the
    test process consumes the real RabbitMQ queue, so jobs cross the broker)."""
    values: dict[str, Any] = {"home": home, "data_roots": [data_root], "scheduler": False, "watch_interval_s": 0.2}
    if backend == "postgres-rabbitmq":
        require_services(5432, 5672)
        values.update(database_url=fresh_postgres_schema(), broker_url=RABBITMQ_URL, in_process_worker=True)
    return ServiceSettings(**{**values, **extra})


def drop_postgres_schema(url: str) -> None:
    """Drop the schema ``fresh_postgres_schema`` made for ``url``."""
    import sqlalchemy as sa

    schema = url.rsplit("%3D", 1)[1]
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["embedded", pytest.param("postgres-rabbitmq", marks=pytest.mark.services)])
def service_settings(request: pytest.FixtureRequest, tmp_path: Path, data_root: Path) -> Iterator[ServiceSettings]:
    """Settings of the embedded setup and of PostgreSQL + RabbitMQ."""
    settings = settings_for(request.param, tmp_path / "home", data_root)
    yield settings
    if settings.database_url is not None:
        drop_postgres_schema(settings.database_url)


@pytest.fixture
def client(service_settings: ServiceSettings) -> Iterator[TestClient]:
    """A client of a started app (migrations run, worker running)."""
    with TestClient(create_app(service_settings)) as test_client:
        yield test_client


def add_user(client: TestClient, email: str = "ann@example.com", *, admin: bool = False) -> dict[str, str]:
    """Create a user in the app's database; returns the bearer header of a fresh token."""
    from pocket_recs.service.security import create_user

    with client.app.state.service.sessions() as session:  # type: ignore[attr-defined]
        create_user(session, email, PASSWORD, is_admin=admin)
    response = client.post("/api/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    """Bearer header of the user ann@example.com (an admin)."""
    return add_user(client, admin=True)
