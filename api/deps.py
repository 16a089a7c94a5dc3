"""Shared dependencies of the routes, as ``Annotated`` aliases: the app state, the live
dispatch, who is asking, role checks and the headers for versions and idempotency."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal
from api.errors import ApiError
from api.live import LiveDispatch
from api.state import AppState, Running

_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def app_state(request: Request) -> AppState:
    """The typed state ``create_app`` put on the app."""
    state: AppState = request.app.state.api
    return state


State = Annotated[AppState, Depends(app_state)]


async def running(state: State) -> Running:
    """What the lifespan started; 503 while the engine is still being rebuilt."""
    if state.running is None:
        raise ApiError(503, "starting: the engine is being rebuilt")
    return state.running


Run = Annotated[Running, Depends(running)]


async def live_dispatch(run: Run) -> LiveDispatch:
    return run.live


Live = Annotated[LiveDispatch, Depends(live_dispatch)]


async def principal(state: State, creds: Credentials) -> Principal:
    """The token's principal; 401 without a known token (anonymous reading in development)."""
    if creds is None or creds.scheme.lower() != "bearer":
        if state.settings.dev_mode:
            return Principal("viewer", anonymous=True)
        raise ApiError(401, "authentication required: send Authorization: Bearer <token>",
                       headers={"WWW-Authenticate": "Bearer"})
    tokens = state.running.tokens if state.running is not None else None
    found = None
    if tokens is not None:
        found = tokens.cached(creds.credentials) or await asyncio.to_thread(tokens.principal,
                                                                            creds.credentials)
    if found is None:
        raise ApiError(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return found


Who = Annotated[Principal, Depends(principal)]


def allow(who: Principal, *roles: str) -> None:
    """403 unless ``who`` has one of ``roles``."""
    if who.role not in roles:
        raise ApiError(403, f"role {who.role} may not do this; needs {' or '.join(roles)}")


async def dispatcher(who: Who) -> Principal:
    allow(who, "dispatcher")
    return who


Dispatcher = Annotated[Principal, Depends(dispatcher)]

# An id in a path: no control characters (a NUL would fail the query on PostgreSQL).
PathId = Annotated[str, Path(max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]

# Header values are printable ASCII (RFC 9110 tokens and entity tags).
IfMatch = Annotated[str | None, Header(max_length=100, pattern=r"^[\x21-\x7e]+$")]
IdempotencyKey = Annotated[str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")]

# A page of a list, the same rule and the same 422 body on every list: 1..10,000 rows from an offset.
Limit = Annotated[int, Query(ge=1, le=10_000, description="rows in the page, 1..10000")]
Offset = Annotated[int, Query(ge=0, description="rows skipped before the page")]
