"""Issue 20, offline docs: `/docs` and `/redoc` render in a real browser with the network
cut off from everything but loopback (Swagger UI used to come from a CDN: a blank page).

Playwright drives Debian's `chromium`; every request to a non-loopback host is refused
by route interception (and counted), so a page that needs the internet fails here.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import uvicorn

from api.main import create_app
from settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def _loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API on a loopback port (no Temporal needed for the docs)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data: Path = tmp_path_factory.mktemp("docs")
    settings = Settings(database_url=f"sqlite:///{data / 'docs.db'}", temporal_address="127.0.0.1:1")
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=15)


@pytest.mark.timeout(120)
def test_docs_render_without_internet(server: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    refused: list[str] = []

    def only_loopback(route: Route) -> None:
        if _loopback(route.request.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", only_loopback)
            page = context.new_page()

            page.goto(f"{server}/docs")
            # Swagger UI renders one block per operation once its bundle ran
            page.wait_for_selector(".opblock", timeout=30_000)
            summaries = page.locator(".opblock-summary-path").all_inner_texts()
            assert "/runs" in [s.replace("\u200b", "") for s in summaries]
            assert page.locator(".opblock").count() >= 15

            page.goto(f"{server}/redoc")
            # ReDoc renders a heading per operation (its summary) once its bundle ran
            page.wait_for_selector("h2:has-text('Start Run')", timeout=30_000)
            assert page.locator("h2:has-text('Decide')").count() >= 1
        finally:
            browser.close()
    assert not refused, f"the docs pages asked the internet for: {refused}"
