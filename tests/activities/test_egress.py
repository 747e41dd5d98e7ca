"""The egress policy (SPEC §8) on the shared outbound client, against real local receivers.

No test sends traffic outside 127.0.0.0/8 and ::1: decisions on private, link-local and
public addresses are tested on what the policy decides for a *resolved* address (an
injected resolver), and refused destinations are never connected to.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.worker import Worker

from activities import outbound
from activities.egress import EgressPolicy, EgressRefused, parse_allow, parse_ip, policy_from
from settings import Settings, get_settings
from tests.activities.conftest import run
from tests.helpers.http_receiver import HttpReceiver, Reply


@pytest.fixture
def allow(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Set EGRESS_ALLOW (and other settings) for the in-process worker of this test."""

    def set_env(**env: str) -> None:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()

    yield set_env
    get_settings.cache_clear()


@pytest.fixture
def other_loopback() -> Iterator[HttpReceiver]:
    """A receiver on 127.0.0.2: loopback, but not what EGRESS_ALLOW=127.0.0.1 allows."""
    with HttpReceiver(host="127.0.0.2") as rx:
        yield rx


@pytest.fixture
def ipv6_loopback() -> Iterator[HttpReceiver]:
    with HttpReceiver(host="::1") as rx:
        yield rx


async def refused(client: Client, worker: Worker, url: str, **params: object) -> ApplicationError:
    """Run one `http` step (3 attempts allowed); it must fail at once, not retried."""
    with pytest.raises(WorkflowFailureError) as err:
        await run(client, worker, "http", {"url": url, **params}, max_attempts=3)
    cause = err.value.cause
    assert isinstance(cause, ActivityError)
    assert cause.retry_state == RetryState.NON_RETRYABLE_FAILURE  # one attempt, no retry
    app = cause.cause
    assert isinstance(app, ApplicationError) and app.non_retryable
    assert app.type == "EgressRefused"
    return app


# -- the decision, on resolved addresses ------------------------------------------------


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)



@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("169.254.169.254", False),  # cloud metadata (link-local)
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("100.64.0.1", False),  # shared address space (not public)
        ("fc00::1", False),
        ("fe80::1", False),
        ("::1", False),
        ("::", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),  # IPv4-mapped private
        ("93.184.216.34", True),  # public
        ("2606:2800:220:1:248:1893:25c8:1946", True),  # public v6
    ],
)
def test_default_policy_on_resolved_addresses(address: str, allowed: bool) -> None:
    policy = policy_from(Settings(_env_file=None, egress_allow=""))
    resolved = parse_ip(address)  # IPv4-mapped IPv6 folds to IPv4
    assert resolved is not None
    assert policy.allows("some.host.test", 80, resolved)[0] is allowed


def test_egress_allow_entries() -> None:
    allow_all, hosts, nets = parse_allow("10.0.0.0/8, erp.internal, 127.0.0.1:8765, [::1]:9000")
    policy = EgressPolicy(allow_all, hosts, nets)
    assert policy.allows("x", 80, ip("10.9.9.9"))[0]
    assert policy.allows("erp.internal", 443, ip("192.168.5.5"))[0]  # by name, any port
    assert policy.allows("127.0.0.1", 8765, ip("127.0.0.1"))[0]
    assert not policy.allows("127.0.0.1", 8766, ip("127.0.0.1"))[0]  # host:port is exact
    assert policy.allows("::1", 9000, ip("::1"))[0]
    assert not policy.allows("other.internal", 443, ip("192.168.5.5"))[0]
    assert not policy.allows("x", 80, ip("169.254.169.254"))[0]
    assert parse_allow("*")[0]
    with pytest.raises(ValueError, match="CIDR"):
        parse_allow("10.0.0.0/99")


def test_infrastructure_is_never_allowed_not_even_by_star() -> None:
    s = Settings(
        _env_file=None,
        egress_allow="*",
        temporal_address="127.0.0.1:7233",
        temporal_ui_url="http://localhost:8233",
        api_host="0.0.0.0",
        api_port=8000,
        api_public_url="https://relay.example.test",
    )
    assert s.temporal_http_address == "127.0.0.1:7243"  # default: frontend port + 10
    policy = policy_from(s)
    for host, port, address in [
        ("127.0.0.1", 7233, "127.0.0.1"),  # frontend
        ("127.0.0.1", 7243, "127.0.0.1"),  # HTTP API
        ("localhost", 8233, "127.0.0.1"),  # Web UI
        ("127.0.0.5", 8233, "127.0.0.5"),  # another loopback alias of the same port
        ("::1", 7233, "::1"),
        ("10.0.0.4", 8000, "10.0.0.4"),  # the API listens on every address (0.0.0.0)
        ("relay.example.test", 443, "93.184.216.34"),  # API_PUBLIC_URL, by name
    ]:
        ok, reason = policy.allows(host, port, ip(address))
        assert not ok and reason == "relayflow infrastructure", (host, port)
    assert policy.allows("127.0.0.1", 9999, ip("127.0.0.1"))[0]  # `*` allows the rest


# -- through the shared client, with an injected resolver ------------------------------


async def test_resolved_private_and_metadata_addresses_are_refused(
    client: Client, action_worker: Worker
) -> None:
    answers = {
        "metadata.test": ["169.254.169.254"],
        "intranet.test": ["10.1.2.3"],
        "mixed.test": ["127.0.0.1", "10.1.2.3"],  # one bad answer spoils the lot
    }

    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    with outbound.use_resolver(resolver):
        err = await refused(client, action_worker, "http://metadata.test/latest/meta-data/")
        assert err.message == (
            "egress to 169.254.169.254:80 (metadata.test) is not allowed (EGRESS_ALLOW)"
        )
        err = await refused(client, action_worker, "https://intranet.test/admin")
        assert err.message.startswith("egress to 10.1.2.3:443 (intranet.test) is not allowed")
        await refused(client, action_worker, "http://mixed.test/")


async def test_connects_to_the_address_it_checked(
    client: Client, action_worker: Worker, receiver: HttpReceiver
) -> None:
    """The name is resolved once and the socket goes to the checked address (no rebinding)."""
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["169.254.169.254"]

    path = "/rebind"
    receiver.script(path, Reply(200, {"ok": True}))
    with outbound.use_resolver(resolver):
        out = await run(client, action_worker, "http", {"url": f"http://rebind.test:{receiver.port}{path}"})
    assert out["body"] == {"ok": True}
    [seen] = receiver.at(path)
    assert seen.header("Host") == f"rebind.test:{receiver.port}"
    assert calls == ["rebind.test"]


async def test_a_literal_ip_is_checked_without_resolving(
    client: Client, action_worker: Worker
) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("an IP literal needs no resolver")

    with outbound.use_resolver(resolver):
        err = await refused(client, action_worker, "http://169.254.169.254/latest/")
    assert err.message == "egress to 169.254.169.254:80 is not allowed (EGRESS_ALLOW)"


# -- real receivers on loopback ---------------------------------------------------------


async def test_loopback_outside_egress_allow_is_refused(
    client: Client, action_worker: Worker, receiver: HttpReceiver,
    other_loopback: HttpReceiver, ipv6_loopback: HttpReceiver,
) -> None:
    # the suite allows 127.0.0.1 (tests/conftest.py): that receiver answers
    ok = await run(client, action_worker, "http", {"url": receiver.script("/fine", Reply(200, "yes"))})
    assert ok["body"] == "yes"
    err = await refused(client, action_worker, f"{other_loopback.url}/x")
    assert err.message == f"egress to 127.0.0.2:{other_loopback.port} is not allowed (EGRESS_ALLOW)"
    err = await refused(client, action_worker, f"{ipv6_loopback.url}/x")
    assert err.message == f"egress to [::1]:{ipv6_loopback.port} is not allowed (EGRESS_ALLOW)"
    assert other_loopback.requests == [] and ipv6_loopback.requests == []


async def test_a_redirect_to_a_refused_address_is_refused(
    client: Client, action_worker: Worker, receiver: HttpReceiver, other_loopback: HttpReceiver
) -> None:
    target = other_loopback.script("/internal", Reply(200, "secret stuff"))
    start = receiver.script("/hop", Reply(302, "", {"Location": target}))
    err = await refused(client, action_worker, start)
    assert err.message.startswith(f"egress to 127.0.0.2:{other_loopback.port} is not allowed")
    assert len(receiver.at("/hop")) == 1  # the allowed hop was asked once, not retried
    assert other_loopback.requests == []


async def test_proxy_variables_are_ignored_and_the_target_is_judged(
    client: Client, action_worker: Worker, receiver: HttpReceiver,
    other_loopback: HttpReceiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With HTTP(S)_PROXY set, calls still go (or are refused) on their real target."""
    with HttpReceiver() as proxy:  # on 127.0.0.1: allowed, so a proxied call would reach it
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        await outbound.aclose()  # a fresh client would read proxies now, if it honoured them
        err = await refused(client, action_worker, f"{other_loopback.url}/behind-proxy")
        assert err.message.startswith(f"egress to 127.0.0.2:{other_loopback.port}")
        out = await run(client, action_worker, "http", {"url": receiver.script("/direct", Reply(200, "direct"))})
        assert out["body"] == "direct" and len(receiver.at("/direct")) == 1
        assert proxy.requests == []
    assert other_loopback.requests == []


async def test_relayflow_infrastructure_is_refused_even_with_star(
    client: Client, action_worker: Worker, allow: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Temporal frontend (the real dev server), its HTTP API, the Web UI and the API."""
    frontend = client.service_client.config.target_host  # 127.0.0.1:<port> of the dev server
    with HttpReceiver() as http_api, HttpReceiver() as ui, HttpReceiver() as api, HttpReceiver() as public:
        allow(  # type: ignore[operator]
            EGRESS_ALLOW="*",
            TEMPORAL_ADDRESS=frontend,
            TEMPORAL_HTTP_ADDRESS=f"127.0.0.1:{http_api.port}",
            TEMPORAL_UI_URL=ui.url,
            API_HOST="127.0.0.1",
            API_PORT=str(api.port),
            API_PUBLIC_URL=public.url,
        )
        targets = [
            f"http://{frontend}/temporal.api.workflowservice.v1.WorkflowService/TerminateWorkflowExecution",
            f"{http_api.url}/api/v1/namespaces/default/workflows/x/signal/decide",
            f"{ui.url}/api/v1/namespaces/default/workflows",
            f"http://127.0.0.3:{ui.port}/namespaces",  # another loopback alias, same port
            f"{api.url}/runs",
            f"{public.url}/runs",
        ]
        for url in targets:
            err = await refused(client, action_worker, url)
            assert "relayflow's own infrastructure" in err.message, err.message
        for rx in (http_api, ui, api, public):
            assert rx.requests == []


# -- TLS: the checked address is connected to, the certificate is the host name's ------


def _self_signed(host: str, cert: Path, key: Path) -> None:
    """A one-day self-signed certificate naming only `host` (`cryptography`, no openssl CLI)."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only `tls.test`."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    _self_signed("tls.test", cert, key)
    seen_sni: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda sock, name, _ctx: seen_sni.append(name)  # type: ignore[assignment]
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert
        assert seen_sni and all(n == "tls.test" for n in seen_sni)
    finally:
        server.shutdown()
        server.server_close()


async def test_tls_keeps_the_host_name(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server

    async def resolver(host: str, port_: int) -> list[str]:
        return {"tls.test": ["127.0.0.1"]}[host]

    async def metadata(host: str, port_: int) -> list[str]:
        return ["169.254.169.254"]

    http = outbound.new_client(verify=ssl.create_default_context(cafile=str(cert)))
    try:
        # connected to 127.0.0.1 (allowed); SNI and certificate check use `tls.test`
        with outbound.use_resolver(resolver):
            resp = await http.get(f"https://tls.test:{port}/")
        assert resp.status_code == 200 and resp.text == "ok"
        with outbound.use_resolver(metadata), pytest.raises(EgressRefused):
            await http.get(f"https://tls.test:{port}/")
    finally:
        await http.aclose()
