"""Issue 19 / SPEC §12 in a real browser: the Temporal Web UI of `make run` with
PAYLOAD_KEYS shows a run's input decoded to an operator signed in at the API's `/ui`,
and nothing to anyone else.

The stack is `scripts/devstack.py` itself (`tests/cli/conftest.py::running_stack`: dev
server + Web UI started with `--ui-codec-endpoint`, worker, API) on free loopback ports;
Playwright drives Debian's chromium. The Web UI calls the codec server from the browser
and sends the relayflow session cookie only when its codec setting "Include cross-origin
credentials" is on. The dev server has no flag for that, so the operator switches it on in
the UI's Codec Server dialog — as the test does — which the UI (2.54) keeps in the browser's
localStorage: `overrideRemoteCodecConfiguration=true`, `endpoint="<the codec URL>"`,
`includeCredentials=true` (read from the UI bundle the `temporal` binary serves; the UI
takes `includeCredentials` from localStorage only together with a browser endpoint).
The cookie is SameSite=Strict: UI and API are both on 127.0.0.1 (one site), so it travels.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from payload_codec import new_key
from tests.cli.conftest import TOKENS, Stack, running_stack
from tests.helpers.http_receiver import HttpReceiver, Reply, Request
from tests.ui.conftest import DOC_IMAGES

pytestmark = pytest.mark.timeout(300)

ORDER = {
    "amount": 8421.75,
    "requester": "Ysolde Marchbank",
    "po": "PO-88W2-QV",
    "cost_center": "cc-veil-17",
}
SECRETS = ["8421.75", "Ysolde Marchbank", "PO-88W2-QV", "cc-veil-17"]
INPUT = '[data-testid="input-and-result"]'


def _erp(req: Request) -> Reply:
    return Reply(body={"remaining": 10**6})


@pytest.fixture(scope="module")
def enc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`make run` with PAYLOAD_KEYS, on free ports (the UI at 127.0.0.1, like the API)."""
    with (
        HttpReceiver(default=_erp) as erp,
        running_stack(
            tmp_path_factory.mktemp("ui-codec"), erp.url, PAYLOAD_KEYS=f"k1:{new_key()}"
        ) as st,
    ):
        assert urlparse(st.ui).hostname == urlparse(st.api).hostname == "127.0.0.1"
        yield st


@pytest.fixture(scope="module")
def po_run(enc: Stack) -> str:
    """A large purchase order, waiting for its manager: its input is in history, encrypted."""
    run_id = f"po-ui-codec-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {TOKENS['sam']}"}
    body = {"template": "purchase-order", "run_id": run_id, "input": ORDER}
    r = httpx.post(f"{enc.api}/runs", json=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    for _ in range(200):
        doc = httpx.get(f"{enc.api}/runs/{run_id}", headers=headers, timeout=30).json()
        if doc["state"] == "waiting":
            return run_id
        time.sleep(0.3)
    raise AssertionError(f"run never waited: {doc}")


def shots(tmp_path: Path) -> Path:
    return DOC_IMAGES if os.environ.get("RELAYFLOW_SCREENSHOTS") == "1" else tmp_path


def _loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Browsing:
    """One browser context: only loopback traffic (anything else is refused and recorded;
    the UI's news feed would be the first to try),
    and every answer of the codec server the page's scripts got."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.refused: list[str] = []
        self.codec: list[int] = []
        context.on("response", self._response)

    @classmethod
    async def open(cls, browser: Any) -> Browsing:
        b = cls(await browser.new_context(viewport={"width": 1400, "height": 1000}))
        await b.context.route("**/*", b._only_loopback)
        return b

    async def _only_loopback(self, route: Any) -> None:
        if _loopback(route.request.url):
            await route.continue_()
        else:
            self.refused.append(route.request.url)
            await route.abort("internetdisconnected")

    def _response(self, response: Any) -> None:
        if "/codec/decode" in response.url and response.request.method == "POST":
            self.codec.append(response.status)


async def sign_in(page: Any, st: Stack, user: str) -> None:
    await page.goto(f"{st.api}/ui")
    await page.fill("#token", TOKENS[user])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{st.api}/ui")


async def include_credentials(page: Any, st: Stack, shot: Path | None = None) -> None:
    """What an operator does once per browser: the Web UI's Codec Server dialog (the
    top-navigation codec button), "Use my browser setting", the endpoint, "Include
    cross-origin credentials", Apply."""
    await page.click('[data-testid^="data-encoder-status"]')
    dialog = page.locator("#data-encoder-settings[open]")
    await dialog.wait_for()
    assert f"{st.api}/codec" in await dialog.inner_text()  # the endpoint devstack configured
    await page.check('[data-testid="use-local-endpoint-input"]')
    await page.fill("#data-encoder-endpoint-input", f"{st.api}/codec")
    await page.click('[data-testid="data-encoder-include-credentials"]')
    assert await page.is_checked("#pass-access-credentials")
    if shot:
        await dialog.screenshot(path=str(shot))
    await page.click('[data-testid="confirm-modal-button"]')
    await dialog.wait_for(state="hidden")
    stored = await page.evaluate("() => ({...localStorage})")
    assert stored["overrideRemoteCodecConfiguration"] == "true"
    assert stored["includeCredentials"] == "true"
    assert stored["endpoint"] == f'"{st.api}/codec"'


async def input_text(page: Any) -> str:
    """The whole Input panel. It is a code viewer that renders only the lines in view, so
    scroll it top to bottom and collect what it shows on the way."""
    scroller = page.locator(f"{INPUT} .cm-scroller").first
    await scroller.wait_for()
    seen: list[str] = []
    await scroller.evaluate("el => { el.scrollTop = 0 }")
    while True:
        seen.append(await page.locator(f"{INPUT} .cm-content").first.inner_text())
        at_end = await scroller.evaluate(
            "el => { const before = el.scrollTop; el.scrollTop += el.clientHeight / 2;"
            " return el.scrollTop === before }"
        )
        if at_end:
            return "\n".join(seen)
        await page.wait_for_timeout(50)  # let the viewer render the lines now in view


async def wait_codec(b: Browsing, status: int) -> None:
    for _ in range(200):
        if status in b.codec:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the page never got a {status} from the codec server: {b.codec}")


async def test_operator_sees_the_input_decoded(
    enc: Stack, po_run: str, browser: Any, tmp_path: Path
) -> None:
    b = await Browsing.open(browser)
    page = await b.context.new_page()
    await sign_in(page, enc, "olga")
    [cookie] = [c for c in await b.context.cookies() if c["name"] == "relayflow_session"]
    assert cookie["sameSite"] == "Strict" and cookie["domain"] == "127.0.0.1"

    run_page = f"{enc.ui}/namespaces/default/workflows/{po_run}"
    await page.goto(run_page)
    # as the dev server configures it, the UI calls the codec without cookies: 401
    await wait_codec(b, 401)
    await page.locator("#content").get_by_text("Codec Server could not connect").wait_for()

    await include_credentials(page, enc, shots(tmp_path) / "web-ui-codec-settings.png")
    b.codec.clear()
    await page.goto(run_page)
    await wait_codec(b, 200)
    await page.locator(f"{INPUT} .cm-content").first.filter(has_text='"purchase-order"').wait_for()
    shown = await input_text(page)
    for secret in SECRETS:
        assert secret in shown, f"{secret!r} not shown decoded"
    assert "Codec Server could not connect" not in await page.inner_text("#content")
    assert 401 not in b.codec and b.codec
    # the picture for docs/operations.md: the order's own fields in view
    await page.locator(f"{INPUT} .cm-scroller").first.evaluate(
        "el => { el.scrollTop = el.scrollHeight - el.clientHeight - 150 }"
    )
    await page.wait_for_timeout(100)
    await page.screenshot(
        path=str(shots(tmp_path) / "web-ui-decoded-input.png"),
        clip={"x": 0, "y": 0, "width": 1400, "height": 660},
    )
    # SPEC §1: the UI `make run` starts (--ui-disable-news-fetch) asks nothing of the internet
    assert b.refused == []
    await b.context.close()


async def test_without_a_session_the_codec_answers_401(
    enc: Stack, po_run: str, browser: Any
) -> None:
    """The same browser settings, but nobody signed in (or a forged cookie): the codec
    server answers the page 401 and the input stays ciphertext."""
    b = await Browsing.open(browser)
    page = await b.context.new_page()
    run_page = f"{enc.ui}/namespaces/default/workflows/{po_run}"
    await page.goto(run_page)
    await include_credentials(page, enc)
    for forged in (None, "eyJ1Ijoib2xnYSJ9.forged.signature"):
        if forged:
            await b.context.add_cookies(
                [{"name": "relayflow_session", "value": forged, "url": enc.api}]
            )
        b.codec.clear()
        await page.goto(run_page)
        await wait_codec(b, 401)
        assert 200 not in b.codec
        await page.locator("#content").get_by_text("Codec Server could not connect").wait_for()
        shown = await input_text(page)
        assert shown.strip() and '"purchase-order"' not in shown
        for secret in SECRETS:
            assert secret not in shown
    # and asked directly from this browser, with that cookie: 401, not the plaintext
    payloads = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IlBPLTEi"}]}
    direct = await b.context.request.post(f"{enc.api}/codec/decode", data=payloads)
    assert direct.status == 401
    await b.context.close()


async def test_a_requester_session_opens_nothing(enc: Stack, po_run: str, browser: Any) -> None:
    """Signed in, but not an operator (sam started the run): the codec refuses (403)."""
    b = await Browsing.open(browser)
    page = await b.context.new_page()
    await sign_in(page, enc, "sam")
    await page.goto(f"{enc.ui}/namespaces/default/workflows/{po_run}")
    await include_credentials(page, enc)
    b.codec.clear()
    await page.reload()
    for _ in range(200):
        if b.codec:
            break
        await asyncio.sleep(0.1)
    assert b.codec and set(b.codec) == {403}
    shown = await input_text(page)
    for secret in SECRETS:
        assert secret not in shown
    await b.context.close()
