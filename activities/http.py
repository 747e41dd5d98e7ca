"""The `http` action: one HTTP request, its response as the step's output (SPEC §4).

``with: {method, url, headers, params, json | body, expect, timeout}`` →
``{status, headers, body, truncated}``. JSON bodies are decoded; bodies over
256 KiB are cut and flagged ``truncated: true`` (then returned as text).
Every request carries ``Idempotency-Key: <key>``, the same on every retry, so a
receiver that honours it applies a retried POST once. Redirects are followed (each
hop passes the egress policy; through a connection, only within its base_url).

Instead of ``url``, ``connection: NAME`` + ``path`` calls an admin-defined connection
(SPEC §8): its base_url, headers and credentials, pinned when the run started.

A status outside ``expect`` (default: any 2xx) fails the step: 5xx, 408 and 429
are retried (honouring ``Retry-After``), other statuses are not. Timeouts and
connection errors are retried.

All actions of a worker process share one `httpx.AsyncClient` (`activities.outbound`:
connection pooling and the egress policy on every connection it opens).
"""

from __future__ import annotations

import json as jsonlib
import re
import warnings
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from activities import outbound
from activities.connections import ResolvedConnection, absolute_url, expected
from activities.errors import InvalidParams, from_httpx, http_status_error
from activities.registry import ActionContext, action
from workflows.language.durations import DurationError, parse_duration

#: responses larger than this are cut and flagged `truncated`
MAX_BODY_BYTES = 256 * 1024
DEFAULT_TIMEOUT = 30.0

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*shadows an attribute.*")

    class HttpParams(BaseModel):
        """``with:`` of the `http` action."""

        model_config = ConfigDict(extra="forbid")

        method: Method = "GET"
        #: an absolute URL; or give `connection` (+ `path`) instead
        url: str | None = None
        #: a connection NAME (admin-defined: base_url, credentials); exclusive with `url`
        connection: str | None = None
        #: with `connection`: joined to its base_url (may carry a query)
        path: str | None = None
        headers: dict[str, str] = Field(default_factory=dict)
        #: query parameters (added to those already in `url`)
        params: dict[str, str | int | float | bool | list[str | int | float | bool]] = Field(
            default_factory=dict
        )
        #: a JSON body (sets Content-Type: application/json)
        json: Any = None
        #: a raw text body (set Content-Type yourself)
        body: str | None = None
        #: allowed statuses: numbers and/or classes like "2xx"; default all 2xx
        expect: list[int | str] | None = None
        #: per-request timeout: a duration (`10s`, `PT1M`) or seconds; default 30s
        timeout: str | float | None = None

        @field_validator("method", mode="before")
        @classmethod
        def _upper(cls, v: object) -> object:
            return v.upper() if isinstance(v, str) else v

        @field_validator("url")
        @classmethod
        def _url(cls, v: str | None) -> str | None:
            return _check_url(v) if v is not None else v

        @field_validator("expect")
        @classmethod
        def _expect(cls, v: list[int | str] | None) -> list[int | str] | None:
            for item in v or []:
                if isinstance(item, int) and not 100 <= item <= 599:
                    raise ValueError(f"status {item} is not between 100 and 599")
                if isinstance(item, str) and not re.fullmatch(r"[1-5](xx|\d\d)", item.lower()):
                    raise ValueError(f"{item!r} is not a status (200) or class (2xx)")
            return v

        @field_validator("timeout")
        @classmethod
        def _timeout(cls, v: str | float | None) -> str | float | None:
            if v is not None:
                try:
                    parse_duration(v)
                except DurationError as exc:
                    raise ValueError(str(exc)) from None
            return v

        @model_validator(mode="after")
        def _one_body(self) -> HttpParams:
            if "json" in self.model_fields_set and self.body is not None:
                raise ValueError("give either `json` or `body`, not both")
            exclusive_target(self.url, self.connection, self.path)
            return self


class HttpOutput(BaseModel):
    """Output of the `http` action (also the shape `slack` and `webhook` build on)."""

    status: int
    headers: dict[str, str]
    body: Any
    truncated: bool


def client() -> httpx.AsyncClient:
    """The worker's shared outbound client (`activities.outbound`: egress policy applies)."""
    return outbound.client()


async def aclose() -> None:
    """Close the shared client (on worker shutdown; the next call opens a new one)."""
    await outbound.aclose()


#: most redirects a call through a connection follows (all within its base_url's origin)
MAX_REDIRECTS = 20


async def send(
    method: str,
    url: str,
    *,
    idempotency_key: str,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    content: bytes | str | None = None,
    json: Any = None,
    send_json: bool = False,
    expect: list[int | str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    connection: ResolvedConnection | None = None,
) -> HttpOutput:
    """Send one request with the shared client; raise a classified error unless expected.

    Used by `http`, `slack` and `webhook`. ``Idempotency-Key`` is set unless the
    caller's ``headers`` already carry one. With a ``connection``, ``url`` is expected
    to be under its base_url: its headers and auth override ``headers``, the egress
    policy lets the call reach base_url, and redirects are followed only while they
    stay on base_url's origin (the credentials are never sent elsewhere).
    """
    hdrs = {k: v for k, v in (headers or {}).items()}
    if connection is not None:
        hdrs = connection.merge_headers(hdrs)
    if not any(k.lower() == "idempotency-key" for k in hdrs):
        hdrs["Idempotency-Key"] = idempotency_key
    if params:  # merged with any query already in the URL (httpx would replace it)
        url = str(httpx.URL(url).copy_merge_params(params))
    request_kwargs: dict[str, Any] = {"headers": hdrs}
    if send_json:
        request_kwargs["json"] = json
    elif content is not None:
        request_kwargs["content"] = content
    http = client()
    try:
        request = http.build_request(
            method,
            url,
            timeout=httpx.Timeout(timeout),
            extensions=outbound.allow(connection.spec.base_url) if connection else None,
            **request_kwargs,
        )
        resp = await http.send(request, stream=True, follow_redirects=connection is None)
        try:
            hops = 0
            while connection is not None and resp.is_redirect and resp.next_request is not None:
                nxt = resp.next_request
                if not connection.same_origin(nxt.url):
                    raise InvalidParams(
                        f"{method} {url} -> {resp.status_code}: a redirect away from connection "
                        f"{connection.name!r}'s base_url is not followed"
                    )
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise InvalidParams(f"{method} {url}: more than {MAX_REDIRECTS} redirects")
                await resp.aclose()
                resp = await http.send(nxt, stream=True, follow_redirects=False)
            raw, truncated = await _read_capped(resp)
        finally:
            await resp.aclose()
    except httpx.HTTPError as exc:
        raise from_httpx(exc, method, url) from None
    out = HttpOutput(
        status=resp.status_code,
        headers={k: ", ".join(resp.headers.get_list(k)) for k in resp.headers.keys()},
        body=_decode(raw, resp, truncated),
        truncated=truncated,
    )
    if not expected(resp.status_code, expect):
        raise http_status_error(
            method, url, resp.status_code, resp.reason_phrase, out.headers, out.body
        )
    return out


def exclusive_target(url: str | None, connection: str | None, path: str | None) -> None:
    """`url` and `connection` are exclusive; `path` goes with `connection` (save and run time)."""
    if url is not None and connection is not None:
        raise ValueError("give either `url` or `connection` (+ `path`), not both")
    if path is not None and connection is None:
        raise ValueError("`path` needs `connection` (with `url`, put the path in the URL)")


def target(url: str | None, path: str | None, ctx: ActionContext) -> str:
    """The URL a call goes to: the step's connection's base_url + `path`, or `url`."""
    if ctx.connection is not None:
        return ctx.connection.url_for(path)
    if not url:
        raise InvalidParams("give `url` or `connection` (+ `path`)")
    return url


@action("http", HttpParams)
async def http(params: HttpParams, ctx: ActionContext) -> HttpOutput:
    """Send an HTTP request and return the response."""
    timeout = parse_duration(params.timeout).total_seconds() if params.timeout else DEFAULT_TIMEOUT
    return await send(
        params.method,
        target(params.url, params.path, ctx),
        idempotency_key=ctx.idempotency_key,
        headers=params.headers,
        params=params.params,
        content=params.body,
        json=params.json,
        send_json="json" in params.model_fields_set,
        expect=params.expect,
        timeout=timeout,
        connection=ctx.connection,
    )


def _check_url(v: str) -> str:
    absolute_url(v)
    return v


async def _read_capped(resp: httpx.Response) -> tuple[bytes, bool]:
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf.extend(chunk)
        if len(buf) > MAX_BODY_BYTES:
            return bytes(buf[:MAX_BODY_BYTES]), True
    return bytes(buf), False


def _decode(raw: bytes, resp: httpx.Response, truncated: bool) -> Any:
    if not raw:
        return ""
    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    text = raw.decode(resp.charset_encoding or "utf-8", errors="replace")
    if not truncated and (ctype == "application/json" or ctype.endswith("+json")):
        try:
            return jsonlib.loads(text)
        except ValueError:
            return text
    return text
