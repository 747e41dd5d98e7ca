"""Domain errors of the API layer and the one place they become HTTP responses.

Services raise subclasses of `RelayflowError`; `install_handlers` maps them (and
FastAPI's / Starlette's own errors) onto the SPEC §5 error body
`{error, detail}` (+ `errors: [{loc, msg}]` for validation failures).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("relayflow.api")


class ErrorItem(BaseModel):
    loc: str
    msg: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx body; `errors` only on validation failures."""

    error: str
    detail: str
    errors: list[ErrorItem] | None = None


class RelayflowError(Exception):
    """Root of the API's domain errors."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, errors: Sequence[ErrorItem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None


class Unauthorized(RelayflowError):
    status_code, code = 401, "unauthorized"


class Forbidden(RelayflowError):
    status_code, code = 403, "forbidden"


class NotFound(RelayflowError):
    status_code, code = 404, "not_found"


class Conflict(RelayflowError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(RelayflowError):
    status_code, code = 413, "payload_too_large"


class UnsupportedMediaType(RelayflowError):
    status_code, code = 415, "unsupported_media_type"


class Invalid(RelayflowError):
    """Input that parses but is not acceptable (template findings, run input, filters)."""

    status_code, code = 422, "invalid"


class Unavailable(RelayflowError):
    """A dependency (Temporal, the database) did not answer."""

    status_code, code = 503, "unavailable"


class Timeout(RelayflowError):
    status_code, code = 504, "timeout"


def error_response(
    status: int,
    code: str,
    detail: str,
    errors: Sequence[ErrorItem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=code, detail=detail, errors=list(errors) if errors is not None else None)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def loc_str(loc: Sequence[Any]) -> str:
    """`("body", "steps", 3, "id")` -> `body.steps[3].id`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RelayflowError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return error_response(exc.status_code, exc.code, exc.detail, exc.errors, headers)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, code, detail, headers=getattr(exc, "headers", None))


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [
        ErrorItem(loc=loc_str(e.get("loc", ())), msg=str(e.get("msg", ""))) for e in exc.errors()
    ]
    first = items[0] if items else None
    detail = f"{first.loc}: {first.msg}" if first else "the request is invalid"
    return error_response(422, "invalid_request", detail, items)


async def _temporal(request: Request, exc: Exception) -> JSONResponse:
    """Safety net: a Temporal call that failed outside a service's own handling."""
    from temporalio.service import RPCError, RPCStatusCode

    assert isinstance(exc, RPCError)
    log.warning("Temporal error on %s %s: %s", request.method, request.url.path, exc)
    if exc.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.OUT_OF_RANGE):
        return error_response(422, "invalid", f"Temporal rejected the request: {exc.message}")
    if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
        return error_response(504, "timeout", f"Temporal did not answer in time: {exc.message}")
    return error_response(503, "unavailable", f"Temporal failed the request: {exc.message}")


async def _database(request: Request, exc: Exception) -> JSONResponse:
    """Database errors are never 500s: a value it refused is the request's fault (422),
    anything else means it is unavailable (connection, pool or statement time limit: 503)."""
    from sqlalchemy.exc import DataError, IntegrityError

    log.warning("database error on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, IntegrityError):
        return error_response(409, "conflict", "the request conflicts with stored data; retry")
    if isinstance(exc, DataError):
        return error_response(
            422, "invalid", "the database refused a value of the request (e.g. a number or text "
            "it cannot store)"
        )
    return error_response(503, "unavailable", "the database is unavailable; retry later")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "an internal error occurred; it has been logged")


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RelayflowError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    from temporalio.service import RPCError

    app.add_exception_handler(RPCError, _temporal)
    app.add_exception_handler(DBAPIError, _database)  # OperationalError, DataError, ...
    app.add_exception_handler(PoolTimeout, _database)
    app.add_exception_handler(Exception, _unexpected)


#: OpenAPI `responses=` for the error statuses a route can return
def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorBody, "description": _STATUS_CODES.get(c, "error")} for c in codes}
