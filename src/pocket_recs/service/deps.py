"""Request dependencies shared by the API and the UI: the process state, the database session,
the logged-in user and the CSRF check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from pocket_recs.service.db import User
from pocket_recs.service.security import csrf_matches, token_user_id
from pocket_recs.service.state import ServiceState

bearer = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


async def get_state(request: Request) -> ServiceState:
    """The ``ServiceState`` of the app handling ``request`` (``async``: FastAPI would run a plain
    function in its thread pool, a thread hop on every request)."""
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(get_state)]


def get_session(state: State) -> Iterator[Session]:
    """A database session for one request."""
    with state.sessions() as session:
        yield session


DB = Annotated[Session, Depends(get_session)]


def optional_user(request: Request, state: State, session: DB, token: Annotated[str | None, Depends(bearer)]) -> User | None:
    """The user of a bearer token, else of the session cookie, else None."""
    if token is not None:
        user_id = token_user_id(token, state.secret)
    else:
        user_id = request.session.get("user_id") if "session" in request.scope else None
    if user_id is None:
        return None
    return session.get(User, int(user_id))


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """The logged-in user; 401 without valid credentials."""
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "log in: POST /api/token, or the login page",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def check_csrf(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> None:
    """Forms sent with the session cookie must carry the session's CSRF token; bearer-token
    requests carry no cookie to forge and need none."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if not csrf_matches(request.session.get("csrf"), csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "csrf_token: missing or wrong; reload the page and submit again")


def uses_cookie(request: Request) -> bool:
    """Whether the request is authenticated by the session cookie (a browser), not a token."""
    return not request.headers.get("authorization", "").lower().startswith("bearer ")
