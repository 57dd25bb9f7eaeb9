"""The web UI driven by a real browser (Debian's Chromium through Playwright) against a real
uvicorn server: log in, train a model through the form, watch its page update itself until the
job completes, then browse a user's and an item's recommendations.

No browser is downloaded: the test uses ``/usr/bin/chromium`` and skips (fails in strict mode)
without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pocket_recs.service.app import create_app
from pocket_recs.service.security import create_user
from tests.conftest import skip_or_fail
from tests.service.conftest import PASSWORD, settings_for
from tests.service.live_server import LiveServer

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
EMAIL = "ann@example.com"
JOB_TIMEOUT_MS = 180_000  # the first job loads the text model; the machine may be busy
PAGE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Iterator[LiveServer]:
    """A started embedded service (SQLite, worker thread) with the user ann@example.com."""
    settings = settings_for("embedded", tmp_path_factory.mktemp("browser") / "home", data_root)
    with LiveServer(create_app(settings)) as running:
        with running.app.state.service.sessions() as session:
            create_user(session, EMAIL, PASSWORD, is_admin=True)
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    """A fresh browser tab (own cookies) on the server; no script error may happen in it."""
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    tab = context.new_page()
    yield tab
    context.close()
    assert not errors, errors


def log_in(page: Any, password: str = PASSWORD) -> Any:
    """Open /jobs, get sent to the login form, fill it in and submit; returns the response."""
    page.goto("/jobs")
    assert "/login" in page.url
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", password)
    with page.expect_navigation() as navigation:
        page.click("button:has-text('Log in')")
    return navigation.value


def rows(page: Any, table_id: str) -> list[list[str]]:
    """The text of each body row (cells) of the table ``table_id``."""
    found: list[list[str]] = page.eval_on_selector_all(
        f"#{table_id} tr:has(td)", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )
    return found


def test_wrong_password_shows_the_error(page: Any) -> None:
    from playwright.sync_api import expect

    response = log_in(page, password="not the password")

    assert response.status == 401
    expect(page.locator("p.error[role=alert]")).to_have_text("Wrong email or password.")
    assert "/login" in page.url
    page.goto("/jobs")
    assert "/login" in page.url  # still logged out


def test_forms_without_the_csrf_token_are_refused(page: Any) -> None:
    login = page.request.post("/login", form={"email": EMAIL, "password": PASSWORD}, max_redirects=0)
    assert login.status == 403
    assert "csrf_token" in login.json()["detail"]

    assert log_in(page).ok
    assert page.url.endswith("/jobs")
    page.eval_on_selector("#train-form input[name=csrf_token]", "input => input.remove()")
    with page.expect_response(re.compile(r"/start_training/$")) as answer:
        page.click("button:has-text('Start training')")

    assert answer.value.status == 403
    assert "csrf_token" in answer.value.json()["detail"]
    page.goto("/jobs")
    assert rows(page, "jobs") == [["No jobs yet."]]


def test_train_watch_and_browse(page: Any, data_root: Path) -> None:
    from playwright.sync_api import expect

    catalog = pd.read_csv(data_root / "shop" / "catalog.csv", dtype={"item_id": str}).set_index("item_id")["title"]
    log = pd.read_parquet(data_root / "shop" / "interactions.parquet")
    user_id = str(log["user_id"].value_counts().index[0])

    # Log in, then start a small ALS job through the training form.
    assert log_in(page).ok
    assert page.url.endswith("/jobs")
    page.select_option("#model_type", "als")
    page.select_option("#data_path", "shop")
    page.fill("fieldset[data-model=als] input[name=factors]", "16")
    page.fill("fieldset[data-model=als] input[name=iterations]", "3")
    with page.expect_navigation():
        page.click("button:has-text('Start training')")
    assert re.search(r"/jobs/[0-9a-f-]{36}$", page.url), page.url

    # The job page and the job history (in a second tab) update themselves: polling, then a
    # reload when the job ends.
    initial = page.text_content("#job-status")
    assert initial not in ("completed", "failed", "cancelled")  # the first job loads a text model
    job_list = page.context.new_page()
    job_list.goto("/jobs")
    assert rows(job_list, "jobs")[0][3] not in ("completed", "failed", "cancelled")
    expect(page.locator("#job-status")).to_have_text(re.compile("completed|failed|cancelled"), timeout=JOB_TIMEOUT_MS)
    assert page.text_content("#job-status") == "completed", page.text_content("#job-error") or ""
    assert page.text_content("#job-pct") == "100%"

    # Its metrics, the chart of the versions and the version table with v1 served.
    metric_rows = rows(page, "metrics")
    assert len(metric_rows) == 1
    recall, precision = (float(value) for value in metric_rows[0][:2])
    assert 0.0 < recall <= 1.0 and 0.0 < precision <= 1.0
    expect(page.locator("#chart")).to_be_visible()
    assert page.locator("#chart rect.bar-this").count() == 5  # one bar per metric for this job
    versions = rows(page, "versions")
    assert [row[0] for row in versions] == ["v1"]
    assert versions[0][4] == "current"

    # The job history lists it as completed with its recall.
    expect(job_list.locator("#jobs td.status")).to_have_text("completed")
    history = rows(job_list, "jobs")
    job_list.close()
    assert len(history) == 1
    assert history[0][1:4] == ["als", "shop", "completed"]
    assert float(history[0][5]) == pytest.approx(recall, abs=1e-4)
    assert history[0][6] == "v1"

    # A user: history and recommendations, with the catalog's titles.
    page.click("header nav a:has-text('Browse')")
    page.fill("input[name=user_id]", user_id)
    with page.expect_navigation():
        page.click("button:has-text('Show user')")
    expect(page.locator("h1")).to_contain_text("serving v1")
    seen = rows(page, "history")
    recommended = rows(page, "recommendations")
    assert len(seen) == 10 and len(recommended) == 10
    for item_id, title, *_ in seen + recommended:
        assert title == catalog[item_id], item_id
    assert {row[0] for row in seen} <= set(log.loc[log["user_id"].astype(str) == user_id, "item_id"].astype(str))

    # An item (the first of the history, by its link): similar items and often bought together.
    item_id = seen[0][0]
    with page.expect_navigation():
        page.click(f"#history a:text-is('{item_id}')")
    expect(page.locator("main h2").first).to_have_text(f"{item_id}: {catalog[item_id]}")
    similar = rows(page, "similar")
    together = rows(page, "together")
    assert similar and together and together != [["Nothing."]]
    for other_id, title, *_ in similar + together:
        assert other_id != item_id
        assert title == catalog[other_id], other_id

    # An unknown item gets an explained error, not a server error.
    page.goto("/browse?item_id=no-such-item")
    expect(page.locator("p.error[role=alert]")).to_contain_text("no-such-item")
