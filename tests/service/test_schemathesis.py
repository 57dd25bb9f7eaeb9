"""Every operation of the OpenAPI schema, fed generated requests by schemathesis, never answers
with a server error (5xx).

The server is the embedded setup under uvicorn, with one completed job whose model version is
served (so the recommendation endpoints answer), and every request carries a valid bearer token
of an admin (so the authenticated endpoints get past the login check).

The cases come from schemathesis' Python API (``operation.as_strategy`` under hypothesis), not
from ``schema.parametrize()``: its pytest plugin (4.32) sets ``Function._nodeid``, which pytest
9.2 no longer has.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from pocket_recs.service.app import create_app
from pocket_recs.service.db import User
from pocket_recs.service.jobs import JobRequest, submit_job
from pocket_recs.service.security import create_user
from tests.service.conftest import PASSWORD, settings_for
from tests.service.live_server import LiveServer

pytestmark = pytest.mark.slow

EMAIL = "ann@example.com"
MAX_EXAMPLES = 25  # per operation and generation mode


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Iterator[LiveServer]:
    """The embedded service with an admin and one completed ALS job, its version served."""
    service_settings = settings_for("embedded", tmp_path_factory.mktemp("schema") / "home", data_root)
    with LiveServer(create_app(service_settings)) as running:
        state = running.app.state.service
        with state.sessions() as session:
            user: User = create_user(session, EMAIL, PASSWORD, is_admin=True)
            request = JobRequest(model_type="als", data_path="shop", params={"factors": 16, "iterations": 3})
            job_id = submit_job(session, user, request, state.settings).id
        state.runner.run(job_id)  # in this thread, not queued: done when it returns
        answer = httpx.get(f"{running.url}/api/history/1", timeout=30.0)
        assert answer.status_code == 200 and answer.json()["version"] == "v1", answer.text
        yield running


@pytest.fixture(scope="module")
def bearer(server: LiveServer) -> dict[str, str]:
    answer = httpx.post(f"{server.url}/api/token", data={"username": EMAIL, "password": PASSWORD}, timeout=30.0)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="module")
def operations(server: LiveServer) -> list[Any]:
    """Every operation of the served OpenAPI schema."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 20
    return found


def server_errors(
    strategies: dict[str, Any], bearer: dict[str, str], *, max_examples: int, negative: bool = False
) -> tuple[dict[str, str], int]:
    """Run each operation's generated cases with the bearer token.

    Returns:
        The failures of the check ``not_a_server_error`` by operation (with the smallest failing
        case and its curl command), and how many operations had cases: in negative mode an
        operation none of whose inputs can be made invalid has none and is left out.
    """
    failures: dict[str, str] = {}
    exercised = 0
    for label, strategy in strategies.items():

        @given(case=strategy)
        @settings(
            max_examples=max_examples, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=bearer, checks=[not_a_server_error], timeout=60)

        try:
            call()
        except Unsatisfiable:
            if not negative:
                raise
            continue
        except (Exception, BaseExceptionGroup) as err:  # noqa: BLE001 - collected: one run reports every operation
            notes = "\n".join(getattr(err, "__notes__", []))
            failures[label] = f"{type(err).__name__}: {err}\n{notes}"
        exercised += 1
    return failures, exercised


def report(failures: dict[str, str]) -> str:
    return "\n\n".join(f"{label}: {text}" for label, text in failures.items())


def test_schema_examples_cause_no_server_error(operations: list[Any], bearer: dict[str, str]) -> None:
    strategies = {
        f"{operation.label} example {n}": strategy
        for operation in operations
        for n, strategy in enumerate(operation.get_strategies_from_examples())
    }
    failures, exercised = server_errors(strategies, bearer, max_examples=1)
    assert not failures, report(failures)
    assert exercised >= 3  # jobs, schedules, events


def test_valid_requests_cause_no_server_error(operations: list[Any], bearer: dict[str, str]) -> None:
    strategies = {operation.label: operation.as_strategy(GenerationMode.POSITIVE) for operation in operations}
    failures, exercised = server_errors(strategies, bearer, max_examples=MAX_EXAMPLES)
    assert not failures, report(failures)
    assert exercised == len(operations)


def test_invalid_requests_cause_no_server_error(operations: list[Any], bearer: dict[str, str]) -> None:
    strategies = {operation.label: operation.as_strategy(GenerationMode.NEGATIVE) for operation in operations}
    failures, exercised = server_errors(strategies, bearer, max_examples=MAX_EXAMPLES, negative=True)
    assert not failures, report(failures)
    assert exercised >= 10  # every operation with a query, a body or a typed path parameter
