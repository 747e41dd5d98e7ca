"""One local HTTP receiver for the whole test suite.

Tests point actions (http, webhook, slack, ...) or whole templates at a real HTTP server
on 127.0.0.1 (a free port, served from a thread) and then look at what arrived: every
request is recorded with its method, path, query, headers, body and parsed JSON.

Replies are scripted per path (`script`: a sequence, the last one repeating) or computed
by a callback, so the special cases -- an ERP answering from the order it got, 5xx then
200, 429 with Retry-After, a reply slow enough to time out -- are data, not one more
server class::

    with HttpReceiver() as rx:
        url = rx.script("/hook", Reply(503, "busy"), Reply(200, {"ok": True}))
        ...  # call `url`
        assert [r.idempotency_key for r in rx.at("/hook")] == ["run-1/s", "run-1/s"]

Paths nobody scripted get the receiver's `default` (a Reply or a callback); the default
default echoes the request back as JSON.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass
class Reply:
    """What the receiver answers.

    `body`: a dict or list is sent as JSON; str or bytes as is (text/plain); None echoes
    the request as JSON (`method`, `path` with query, `headers`, `body` as text).
    `headers` are added to the response (a Content-Type here replaces the default one);
    the receiver waits `delay` seconds before answering (to make a client time out).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request as it arrived."""

    method: str
    path: str  # without the query string
    query: str  # the raw query string, "" when there is none
    headers: dict[str, str]  # as sent: names keep the client's spelling
    body: bytes
    json: Any  # the body parsed as JSON; None when it is empty or not JSON
    at: float  # time.monotonic() on arrival

    @property
    def target(self) -> str:
        """The request target as sent: path plus `?query` when there is one."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    @property
    def idempotency_key(self) -> str | None:
        return self.header("Idempotency-Key")


Responder = Callable[[Request], Reply]
"""A reply computed from the request (e.g. an ERP echoing the order number it got)."""


class HttpReceiver:
    """A threaded local HTTP server recording every request; replies scripted per path.

    Use it as a context manager, or call `start()` / `stop()` (e.g. in a pytest fixture).
    All methods may be called from any thread; the server answers GET, POST, PUT, PATCH
    and DELETE alike.
    """

    def __init__(self, default: Reply | Responder | None = None, *, host: str = "127.0.0.1") -> None:
        self.default: Reply | Responder = default if default is not None else Reply()
        #: the loopback address to listen on: 127.0.0.1 (default), another 127.x or ::1
        self.host = host
        self._requests: list[Request] = []
        self._scripts: dict[str, list[Reply | Responder]] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        """Bind `host` (127.0.0.1) on a free port and serve from a daemon thread."""
        if self._server is None:
            self._server = _Server(self, self.host)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="http-receiver", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (requests still in flight may be cut off)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash: `http://127.0.0.1:<port>` (`http://[::1]:<port>`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- scripting --------------------------------------------------------------------

    def script(self, path: str, *replies: Reply | Responder) -> str:
        """Answer `path` (query ignored) with `replies` in order, the last one repeating
        (e.g. `Reply(503), Reply(200, {...})`); a callable computes its reply from the
        request. Replaces any earlier script for `path`. Returns the full URL of `path`."""
        if not replies:
            raise ValueError("script() needs at least one reply")
        with self._lock:
            self._scripts[path] = list(replies)
        return self.url + path

    # -- what arrived -----------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def at(self, path: str) -> list[Request]:
        """The requests to `path` (query ignored), in arrival order."""
        return [r for r in self.requests if r.path == path]

    @property
    def hits(self) -> Counter[str]:
        """Number of requests per path (query ignored)."""
        return Counter(r.path for r in self.requests)

    @property
    def idempotency_keys(self) -> Counter[str]:
        """Number of requests per Idempotency-Key header (requests without one left out):
        a key seen more than once is an action that was executed again."""
        return Counter(k for r in self.requests if (k := r.idempotency_key) is not None)

    # -- used by the request handler ------------------------------------------------

    def _take(self, request: Request) -> Reply:
        """Record `request` and pick its reply: the path's script, else the default."""
        with self._lock:
            self._requests.append(request)
            script = self._scripts.get(request.path)
            if script:
                chosen = script.pop(0) if len(script) > 1 else script[0]
            else:
                chosen = self.default
        return chosen if isinstance(chosen, Reply) else chosen(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: HttpReceiver, host: str) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"test receivers listen on loopback only, not {host}")
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, 0), _Handler)
        self.receiver = receiver


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _payload(reply: Reply, request: Request) -> tuple[bytes, str]:
    """The response body and its default Content-Type."""
    if reply.body is None:
        echo = {
            "method": request.method,
            "path": request.target,
            "headers": request.headers,
            "body": request.body.decode(errors="replace"),
        }
        return json.dumps(echo).encode(), "application/json"
    if isinstance(reply.body, dict | list):
        return json.dumps(reply.body).encode(), "application/json"
    raw = reply.body if isinstance(reply.body, bytes) else str(reply.body).encode()
    return raw, "text/plain; charset=utf-8"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass  # keep test output clean

    def _handle(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers=dict(self.headers.items()),
            body=body,
            json=_parse_json(body),
            at=time.monotonic(),
        )
        reply = self.server.receiver._take(request)
        if reply.delay:
            time.sleep(reply.delay)
        payload, content_type = _payload(reply, request)
        try:
            self.send_response(reply.status)
            if not any(k.lower() == "content-type" for k in reply.headers):
                self.send_header("Content-Type", content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up waiting (timeout tests)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server API
