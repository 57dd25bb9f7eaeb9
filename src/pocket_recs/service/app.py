"""``create_app(settings)``: the FastAPI application of the training and serving service."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pocket_recs._version import __version__
from pocket_recs.errors import (
    ArtifactError,
    ConfigError,
    DataValidationError,
    NotFittedError,
    UnknownIdError,
)
from pocket_recs.service import api, ui
from pocket_recs.service.settings import ServiceSettings, load_settings
from pocket_recs.service.state import Metrics, ServiceState

logger = logging.getLogger(__name__)

DESCRIPTION = """Train recommendation models in background workers, compare their metrics, promote
a version to serving, and ask it for recommendations.

Log in with `POST /api/token` (OAuth2 password flow) and send `Authorization: Bearer <token>`.
Recommendation reads need no login; feedback (`POST /events`) and jobs do."""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service app; ``settings`` default to the ``POCKET_RECS_*`` environment."""
    settings = settings or ServiceSettings()
    state = ServiceState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(title="pocket-recs", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = state
    app.add_middleware(SessionMiddleware, secret_key=state.secret, same_site="lax", session_cookie="pocket_recs_session")
    _add_metrics(app, state)
    _add_error_handlers(app)
    app.include_router(api.recommendations)
    app.include_router(api.router)
    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several web processes): settings from the environment
    and from the file named by ``POCKET_RECS_SETTINGS_FILE``, if set."""
    return create_app(load_settings(os.environ.get("POCKET_RECS_SETTINGS_FILE")))


def _add_metrics(app: FastAPI, state: ServiceState) -> None:
    app.add_middleware(MeasureRequests, metrics=state.metrics)


class MeasureRequests:
    """Counts requests by method, route and status and times them by route.

    A plain ASGI middleware: ``@app.middleware("http")`` (``BaseHTTPMiddleware``) runs every
    request through a task group and a streamed copy of the response, about 0.25 ms of CPU per
    ``/recommend`` call (benchmarks/http_bench.py).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500  # unless the app answers: an exception becomes a 500 further out

        async def send_and_note_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status_code)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def _add_error_handlers(app: FastAPI) -> None:
    """The library's errors, mapped once: bad input 422, unknown id 404, no usable model 503."""
    codes: list[tuple[type[Exception], int]] = [
        (DataValidationError, status.HTTP_422_UNPROCESSABLE_CONTENT),
        (ConfigError, status.HTTP_422_UNPROCESSABLE_CONTENT),
        (UnknownIdError, status.HTTP_404_NOT_FOUND),
        (ArtifactError, status.HTTP_503_SERVICE_UNAVAILABLE),
        (NotFittedError, status.HTTP_503_SERVICE_UNAVAILABLE),
    ]
    for error_class, code in codes:
        app.add_exception_handler(error_class, _handler(code))


def _handler(code: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, err: Exception) -> Response:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        return JSONResponse({"detail": message}, status_code=code)

    return handle
