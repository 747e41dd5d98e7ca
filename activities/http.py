"""The `http` action: one HTTP request, its response as the step's output (SPEC §4).

``with: {method, url, headers, params, json | body, expect, timeout}`` →
``{status, headers, body, truncated}``. JSON bodies are decoded; bodies over
256 KiB are cut and flagged ``truncated: true`` (then returned as text).
Every request carries ``Idempotency-Key: <key>``, the same on every retry, so a
receiver that honours it applies a retried POST once. Redirects are followed.

A status outside ``expect`` (default: any 2xx) fails the step: 5xx, 408 and 429
are retried (honouring ``Retry-After``), other statuses are not. Timeouts and
connection errors are retried.

All actions of a worker process share one `httpx.AsyncClient` (connection pooling).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import re
import warnings
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from activities.errors import from_httpx, http_status_error
from activities.registry import ActionContext, action
from workflows.language.durations import DurationError, parse_duration

#: responses larger than this are cut and flagged `truncated`
MAX_BODY_BYTES = 256 * 1024
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "relayflow"

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*shadows an attribute.*")

    class HttpParams(BaseModel):
        """``with:`` of the `http` action."""

        model_config = ConfigDict(extra="forbid")

        method: Method = "GET"
        url: str
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
        def _url(cls, v: str) -> str:
            return _check_url(v)

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
            return self


class HttpOutput(BaseModel):
    """Output of the `http` action (also the shape `slack` and `webhook` build on)."""

    status: int
    headers: dict[str, str]
    body: Any
    truncated: bool


_client: httpx.AsyncClient | None = None
_client_loop: asyncio.AbstractEventLoop | None = None


def client() -> httpx.AsyncClient:
    """The worker process's shared client, created on first use (per event loop)."""
    global _client, _client_loop
    loop = asyncio.get_running_loop()
    if _client is None or _client.is_closed or _client_loop is not loop:
        _client = httpx.AsyncClient(
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        _client_loop = loop
    return _client


async def aclose() -> None:
    """Close the shared client (on worker shutdown; the next call opens a new one)."""
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


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
) -> HttpOutput:
    """Send one request with the shared client; raise a classified error unless expected.

    Used by `http`, `slack` and `webhook`. ``Idempotency-Key`` is set unless the
    caller's ``headers`` already carry one.
    """
    hdrs = {k: v for k, v in (headers or {}).items()}
    if not any(k.lower() == "idempotency-key" for k in hdrs):
        hdrs["Idempotency-Key"] = idempotency_key
    if params:  # merged with any query already in the URL (httpx would replace it)
        url = str(httpx.URL(url).copy_merge_params(params))
    request_kwargs: dict[str, Any] = {"headers": hdrs}
    if send_json:
        request_kwargs["json"] = json
    elif content is not None:
        request_kwargs["content"] = content
    try:
        async with client().stream(
            method, url, timeout=httpx.Timeout(timeout), **request_kwargs
        ) as resp:
            raw, truncated = await _read_capped(resp)
    except httpx.HTTPError as exc:
        raise from_httpx(exc, method, url) from None
    out = HttpOutput(
        status=resp.status_code,
        headers={k: ", ".join(resp.headers.get_list(k)) for k in resp.headers.keys()},
        body=_decode(raw, resp, truncated),
        truncated=truncated,
    )
    if not _expected(resp.status_code, expect):
        raise http_status_error(
            method, url, resp.status_code, resp.reason_phrase, out.headers, out.body
        )
    return out


@action("http", HttpParams)
async def http(params: HttpParams, ctx: ActionContext) -> HttpOutput:
    """Send an HTTP request and return the response."""
    timeout = parse_duration(params.timeout).total_seconds() if params.timeout else DEFAULT_TIMEOUT
    return await send(
        params.method,
        params.url,
        idempotency_key=ctx.idempotency_key,
        headers=params.headers,
        params=params.params,
        content=params.body,
        json=params.json,
        send_json="json" in params.model_fields_set,
        expect=params.expect,
        timeout=timeout,
    )


def _check_url(v: str) -> str:
    try:
        url = httpx.URL(v)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http:// or https:// URL")
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


def _expected(status: int, expect: list[int | str] | None) -> bool:
    if not expect:
        return 200 <= status < 300
    for item in expect:
        if isinstance(item, int) and item == status:
            return True
        if isinstance(item, str):
            item = item.lower()
            if item.endswith("xx") and status // 100 == int(item[0]):
                return True
            if item.isdigit() and int(item) == status:
                return True
    return False
