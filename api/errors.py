"""Errors as JSON: ``{"error": ..., "fields": [{"field", "reason"}]}`` for every status, raised
as ``ApiError`` by routes and dependencies and turned into responses by the handlers here."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorBody

log = logging.getLogger(__name__)

# the error statuses every route may answer, for the OpenAPI document
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody}
                                           for code in (400, 401, 403, 404, 409, 413, 422, 428, 500, 503)}


class ApiError(Exception):
    """An answer other than success: its status, message, the fields at fault and headers."""

    def __init__(self, status: int, error: str, fields: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.fields, self.headers = status, error, fields or [], headers


def install_error_handlers(app: FastAPI) -> None:
    """Answer ``ApiError``, store failures, invalid requests, Starlette's errors and anything
    unexpected as JSON."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "fields": exc.fields}, status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(SQLAlchemyError)
    async def store_down(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("store error: %s", exc)
        return JSONResponse({"error": "the store is unavailable; nothing was changed, try again",
                             "fields": []}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body",
                   "reason": str(e.get("msg", "invalid"))} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "fields": fields}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:  # the server logs the traceback
        return JSONResponse({"error": "internal error; see the server's log", "fields": []}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "fields": []}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
