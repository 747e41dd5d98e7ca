"""The egress policy (SPEC §8): which addresses an outbound call may connect to.

`EgressPolicy.check(host, port, address)` decides on the address actually connected
to (the transport in `activities.outbound` resolves the name, checks every address
and connects to the checked one), so DNS rebinding cannot slip past it; redirects
open new connections and are checked the same way. Order of the rules:

1. relayflow's own infrastructure — the Temporal frontend (``TEMPORAL_ADDRESS``), its
   HTTP API (``TEMPORAL_HTTP_ADDRESS``), its Web UI (``TEMPORAL_UI_URL``) and the API
   (``API_HOST:API_PORT``, ``API_PUBLIC_URL``) — is refused whatever else says yes.
   An infrastructure host on loopback blocks that port on every loopback address
   (127.0.0.0/8, ::1); an unspecified one (``0.0.0.0``) on every non-public address.
2. the call's own allowance (a connection's ``base_url`` host:port) is allowed;
3. ``EGRESS_ALLOW`` entries (``host``, ``host:port``, ``[v6]:port``, CIDR, ``*``) allow;
4. public (globally routable, non-multicast) addresses are allowed; everything else —
   loopback, private (RFC 1918, fc00::/7), link-local (169.254.0.0/16, fe80::/10),
   unspecified, multicast, shared/reserved/documentation ranges — is refused.

A refusal raises `EgressRefused` (non-retryable):
``egress to 169.254.169.254:80 is not allowed (EGRESS_ALLOW)``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from activities.errors import ActionError
from settings import Settings

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK_NETS: tuple[Net, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class EgressRefused(ActionError):
    """An outbound call to a destination the egress policy does not allow."""

    retryable = False


def parse_ip(text: str) -> IP | None:
    """``text`` as an address (IPv4-mapped IPv6 folded to IPv4; brackets/zone ids dropped)."""
    text = text.strip().strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_public(ip: IP) -> bool:
    """Globally routable unicast: what the default policy lets actions reach."""
    return ip.is_global and not ip.is_multicast


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, ``host``, bare IPv6 → (lower-case host, port or default)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:  # a bare name, IPv4 or IPv6 without port
        host, port = text, ""
    if port and not port.isdigit():
        raise ValueError(f"{text!r}: port {port!r} is not a number")
    return host.lower().rstrip("."), int(port) if port else default_port


def url_host_port(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL, the port defaulted from the scheme."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    return parts.hostname.lower().rstrip("."), port


@dataclass(frozen=True)
class Endpoint:
    """A host (name or address) with an optional port; None = any port."""

    host: str
    port: int | None = None

    def matches(self, host: str, port: int, ip: IP) -> bool:
        if self.port is not None and self.port != port:
            return False
        mine = parse_ip(self.host)
        if mine is None:
            return self.host == host
        return mine == ip or mine == parse_ip(host)


@dataclass(frozen=True)
class EgressPolicy:
    """A frozen (hashable) policy: the transport keeps one connection pool per policy."""

    allow_all: bool = False
    allow: tuple[Endpoint, ...] = ()
    allow_nets: tuple[Net, ...] = ()
    #: relayflow's own endpoints, never reachable
    infra: tuple[Endpoint, ...] = ()
    #: addresses the infrastructure names resolved to when the policy was built
    infra_ips: tuple[tuple[IP, int], ...] = ()
    #: this call's own allowance (a connection's base_url host:port)
    extra: tuple[Endpoint, ...] = field(default=())

    def with_extra(self, *endpoints: Endpoint) -> EgressPolicy:
        return EgressPolicy(
            self.allow_all,
            self.allow,
            self.allow_nets,
            self.infra,
            self.infra_ips,
            tuple(dict.fromkeys((*self.extra, *endpoints))),
        )

    def is_infrastructure(self, host: str, port: int, ip: IP) -> bool:
        host = host.lower().rstrip(".")
        for end in self.infra:
            if end.port == port and end.host == host:
                return True
        for infra_ip, infra_port in self.infra_ips:
            if infra_port != port:
                continue
            if infra_ip == ip:
                return True
            if infra_ip.is_unspecified and not is_public(ip):
                return True
            if infra_ip.is_loopback and ip.is_loopback:
                return True
        return False

    def allows(self, host: str, port: int, ip: IP) -> tuple[bool, str]:
        """(allowed?, reason) for connecting to ``ip``:``port`` on behalf of ``host``."""
        host = host.lower().rstrip(".")
        if self.is_infrastructure(host, port, ip):
            return False, "relayflow infrastructure"
        if self.allow_all:
            return True, "EGRESS_ALLOW=*"
        if any(e.matches(host, port, ip) for e in self.extra):
            return True, "connection"
        if any(e.matches(host, port, ip) for e in self.allow):
            return True, "EGRESS_ALLOW"
        if any(ip in net for net in self.allow_nets):
            return True, "EGRESS_ALLOW"
        if is_public(ip):
            return True, "public"
        return False, "EGRESS_ALLOW"

    def check(self, host: str, port: int, address: str) -> None:
        """Raise `EgressRefused` unless connecting to ``address`` is allowed."""
        ip = parse_ip(address)
        if ip is None:
            raise EgressRefused(f"egress to {host}:{port}: {address!r} is not an IP address")
        ok, reason = self.allows(host, port, ip)
        if ok:
            return
        shown = f"[{ip}]" if ip.version == 6 else str(ip)
        via = "" if parse_ip(host) == ip else f" ({host})"
        if reason == "relayflow infrastructure":
            raise EgressRefused(
                f"egress to {shown}:{port}{via} is not allowed (relayflow's own infrastructure "
                "is never reachable from actions, whatever EGRESS_ALLOW says)"
            )
        raise EgressRefused(f"egress to {shown}:{port}{via} is not allowed (EGRESS_ALLOW)")


def parse_allow(text: str) -> tuple[bool, tuple[Endpoint, ...], tuple[Net, ...]]:
    """``EGRESS_ALLOW`` → (allow all?, host[:port] entries, networks). Bad entries raise."""
    allow_all, hosts, nets = False, [], []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            allow_all = True
        elif "/" in entry:
            try:
                nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                raise ValueError(f"EGRESS_ALLOW: {entry!r} is not a valid CIDR") from None
        else:
            host, port = split_host_port(entry)
            if not host:
                raise ValueError(f"EGRESS_ALLOW: {entry!r} has no host")
            hosts.append(Endpoint(host, port))
    return allow_all, tuple(hosts), tuple(nets)


def infrastructure(settings: Settings) -> tuple[Endpoint, ...]:
    """relayflow's own endpoints from settings (see the module docstring)."""
    found: list[Endpoint] = []

    def add(host: str, port: int | None) -> None:
        if host and port:
            found.append(Endpoint(host.lower().rstrip("."), port))

    for text, default in (
        (settings.temporal_address, 7233),
        (settings.temporal_http_address, None),
    ):
        if text:
            try:
                add(*split_host_port(text, default))
            except ValueError:
                pass
    for url in (settings.temporal_ui_url, settings.api_public_url):
        hp = url_host_port(url) if url else None
        if hp:
            add(*hp)
    add(settings.api_host, settings.api_port)
    return tuple(dict.fromkeys(found))


def _resolve_all(infra: Iterable[Endpoint]) -> tuple[tuple[IP, int], ...]:
    out: list[tuple[IP, int]] = []
    for end in infra:
        assert end.port is not None
        ip = parse_ip(end.host)
        if ip is not None:
            out.append((ip, end.port))
            continue
        try:
            infos = socket.getaddrinfo(end.host, end.port, type=socket.SOCK_STREAM)
        except OSError:
            continue
        for info in infos:
            resolved = parse_ip(str(info[4][0]))
            if resolved is not None:
                out.append((resolved, end.port))
    return tuple(dict.fromkeys(out))


_cache: dict[tuple[str, tuple[Endpoint, ...]], EgressPolicy] = {}


def policy_from(settings: Settings) -> EgressPolicy:
    """The policy of ``settings`` (cached per EGRESS_ALLOW and infrastructure list)."""
    infra = infrastructure(settings)
    key = (settings.egress_allow, infra)
    found = _cache.get(key)
    if found is None:
        allow_all, hosts, nets = parse_allow(settings.egress_allow)
        found = EgressPolicy(allow_all, hosts, nets, infra, _resolve_all(infra))
        _cache[key] = found
    return found
