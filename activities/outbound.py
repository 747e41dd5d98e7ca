"""The one outbound HTTP client of relayflow (SPEC §8): every action call goes through it.

`client()` is the worker process's shared `httpx.AsyncClient`; the built-in actions,
custom actions (`ActionContext.http`, or this module's `client()`) and connection health
checks all use it. Its transport applies the egress policy (`activities.egress`) where
it cannot be bypassed, at connect time:

- the host name is resolved once (`resolver`, injectable for tests), **every** address
  is checked, and the socket connects to a checked address — no DNS-rebinding gap; TLS
  still verifies and sends SNI for the host name;
- redirects are followed by the client, and every hop that needs a new connection is
  checked again (a pooled connection is reused only within one policy: calls through
  a connection, which may reach its own ``base_url``, use their own pool);
- a refusal raises `EgressRefused` (non-retryable), naming the destination.

Proxies: the client ignores ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``
and ``.netrc`` (``trust_env=False``). A proxy would hide the real destination from the
policy (and could be used to reach it); outbound calls always connect directly. The
TLS trust store still honours ``SSL_CERT_FILE``/``SSL_CERT_DIR``.

Cookies are never kept between calls (the client is shared by every run).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from activities.egress import (
    EgressPolicy,
    EgressRefused,
    Endpoint,
    parse_ip,
    policy_from,
    url_host_port,
)
from activities.secrets import RedactingFilter
from settings import get_settings

USER_AGENT = "relayflow"
# httpx logs every request's URL at INFO: a `slack.url` secret must not reach the logs
logging.getLogger("httpx").addFilter(RedactingFilter())
#: request extension carrying the extra endpoints a call may reach (a connection's base_url)
ALLOW_EXTENSION = "relayflow_egress_allow"

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in the system's order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_resolver: Resolver = system_resolver


@contextmanager
def use_resolver(resolver: Resolver) -> Iterator[None]:
    """Resolve host names with ``resolver`` inside the block (tests decide what a name is)."""
    global _resolver
    previous, _resolver = _resolver, resolver
    try:
        yield
    finally:
        _resolver = previous


class PolicyBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend: resolve, check every address, connect to a checked one."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            literal = parse_ip(host)
            addresses = (
                [str(literal)]
                if literal is not None
                else await asyncio.wait_for(_resolver(host, port), timeout)
            )
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} resolves to no address")
        for address in addresses:  # all of them: a mixed answer is refused as a whole
            self.policy.check(host, port, address)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address.split("%", 1)[0] if "%" in address else address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused(f"egress to unix socket {path!r} is not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PolicyPool(httpx.AsyncHTTPTransport):
    """httpx's transport (request/response mapping, error mapping) over a `PolicyBackend`."""

    def __init__(
        self, policy: EgressPolicy, limits: httpx.Limits, verify: ssl.SSLContext | bool = True
    ) -> None:
        # trust_env here only means SSL_CERT_FILE/SSL_CERT_DIR (proxies are the client's)
        super().__init__(limits=limits, trust_env=True, verify=verify)
        ssl_context = self._pool._ssl_context
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PolicyBackend(policy),
        )


class EgressTransport(httpx.AsyncBaseTransport):
    """Routes each request to the pool of the policy in force for it.

    The policy is the current settings' (``EGRESS_ALLOW``, infrastructure) plus the
    request's ``relayflow_egress_allow`` extension (kept across redirects by httpx).
    """

    def __init__(
        self, limits: httpx.Limits | None = None, verify: ssl.SSLContext | bool = True
    ) -> None:
        self._limits = limits or httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self._verify = verify
        self._pools: dict[EgressPolicy, _PolicyPool] = {}

    def _pool_for(self, request: httpx.Request) -> _PolicyPool:
        policy = policy_from(get_settings())
        extra = request.extensions.get(ALLOW_EXTENSION)
        if extra:
            policy = policy.with_extra(*extra)
        pool = self._pools.get(policy)
        if pool is None:
            pool = self._pools[policy] = _PolicyPool(policy, self._limits, self._verify)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool_for(request).handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def new_client(verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """A client with the egress transport (`client()` is the shared one).

    ``verify``: an `ssl.SSLContext` trusting a private CA (default: the system's store,
    or ``SSL_CERT_FILE``/``SSL_CERT_DIR``).
    """
    return httpx.AsyncClient(
        transport=EgressTransport(verify=verify),
        trust_env=False,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


_client: httpx.AsyncClient | None = None
_client_loop: asyncio.AbstractEventLoop | None = None


def client() -> httpx.AsyncClient:
    """The process's shared client, created on first use (per event loop).

    Custom actions: use it (or ``ctx.http``) for every outbound call so the egress policy
    applies; pass ``extensions=allow(url)`` only for a destination an admin configured.
    """
    global _client, _client_loop
    loop = asyncio.get_running_loop()
    if _client is None or _client.is_closed or _client_loop is not loop:
        _client = new_client()
        _client_loop = loop
    return _client


async def aclose() -> None:
    """Close the shared client (on worker shutdown; the next call opens a new one)."""
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


def allow(base_url: str) -> dict[str, Any]:
    """Request ``extensions`` letting a call reach ``base_url``'s host:port (a connection's)."""
    hp = url_host_port(base_url)
    return {ALLOW_EXTENSION: (Endpoint(*hp),)} if hp else {}


__all__ = ["EgressRefused", "allow", "client", "new_client", "system_resolver", "use_resolver"]
