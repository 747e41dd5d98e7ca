"""Approvals for people in a real browser (SPEC §11): the web inbox, decision links from
the task e-mail, delegation — Playwright driving Debian's chromium against a real API,
worker, Temporal dev server and SMTP receiver."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest

from activities import decision_links
from tests.ui.conftest import SECRET, Stack, auth, token

FORM = {
    "type": "object",
    "required": ["cost_code"],
    "properties": {
        "cost_code": {"type": "string", "title": "Cost code", "description": "e.g. CC-42"},
        "urgent": {"type": "boolean", "title": "Urgent delivery"},
    },
}


async def start(stack: Stack, run_id: str, users: list[str], **approval: Any) -> None:
    name = stack.names.get("po")
    if name is None:
        name = stack.names["po"] = "po-approval"
        doc = {
            "name": name,
            "description": "Purchase order approval (browser tests)",
            "input_schema": {
                "type": "object",
                "properties": {"amount": {"type": "number"}, "supplier": {"type": "string"}},
            },
            "steps": [
                {
                    "id": "manager_approval",
                    "name": "Manager approval",
                    "approval": {
                        "assignees": {"users": ["mike"]},
                        "form": FORM,
                        "timeout": "2d",
                        "on_timeout": "rejected",
                    },
                },
            ],
            "outputs": {
                "decision": "${{ steps.manager_approval.decision }}",
                "cost_code": "${{ steps.manager_approval.output.decisions[0].data.cost_code }}",
            },
        }
        r = await stack.api.post("/templates", json=doc, headers=auth("dana"))
        assert r.status_code == 201, r.text
    r = await stack.api.post(
        "/runs",
        json={
            "template": name,
            "run_id": run_id,
            "input": {"amount": 5000, "supplier": "Acme Tools"},
        },
        headers=auth("eve"),
    )
    assert r.status_code == 201, r.text
    await until(lambda: run_state(stack, run_id), "waiting")


async def run_doc(stack: Stack, run_id: str) -> dict[str, Any]:
    r = await stack.api.get(f"/runs/{run_id}", headers=auth("admin"))
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def run_state(stack: Stack, run_id: str) -> str:
    return str((await run_doc(stack, run_id))["state"])


async def until(get: Any, want: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (got := await get()) != want:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {got!r}, wanted {want!r}")
        await asyncio.sleep(0.1)


async def sign_in(browser: Any, stack: Stack, user: str) -> tuple[Any, Any]:
    context = await browser.new_context(viewport={"width": 420, "height": 860})
    page = await context.new_page()
    await page.goto(f"{stack.base}/ui")
    assert "/ui/login" in page.url  # no session: the sign-in form
    await page.fill("#token", token(user))
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{stack.base}/ui")
    return context, page


async def see_in_tasks(page: Any, stack: Stack, run_id: str) -> None:
    """My tasks lists runs from Temporal visibility (eventually consistent): reload."""
    for _ in range(60):
        if await page.locator("#tasks", has_text=run_id).count():
            return
        await asyncio.sleep(0.25)
        await page.goto(f"{stack.base}/ui")
    raise AssertionError(f"{run_id} never appeared in My tasks")


async def decisions(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    out = (await run_doc(stack, run_id))["steps"]["manager_approval"]["output"] or {}
    return list(out.get("decisions") or [])


async def test_mike_approves_in_the_web_inbox(stack: Stack, browser: Any) -> None:
    await start(stack, "po-1001", ["mike"])
    context, page = await sign_in(browser, stack, "mike")
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["relayflow_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and not session["secure"]
    await see_in_tasks(page, stack, "po-1001")
    await page.screenshot(path=str(stack.shots / "ui-my-tasks.png"), full_page=True)
    await page.click("#tasks a:has-text('po-1001')")
    await page.wait_for_selector("form#decide")
    body = await page.inner_text("main")
    assert "po-approval@" in body and "Acme Tools" in body and "Manager approval" in body
    # the server validates the form too: without the required field nothing is decided
    await page.eval_on_selector("#f\\.cost_code", "e => e.removeAttribute('required')")
    await page.click("button[value=approved]")
    await page.wait_for_selector(".error")
    assert "cost_code" in await page.inner_text(".error")
    assert await decisions(stack, "po-1001") == []
    await page.fill("#f\\.cost_code", "CC-42")
    await page.check("#f\\.urgent")
    await page.fill("#comment", "within budget")
    await page.screenshot(path=str(stack.shots / "ui-task.png"), full_page=True)
    await page.click("button[value=approved]")
    await page.wait_for_url(re.compile(r".*/ui\?done=po-1001$"))
    assert "Decision recorded" in await page.inner_text(".flash")
    await until(lambda: run_state(stack, "po-1001"), "completed")
    doc = await run_doc(stack, "po-1001")
    assert doc["output"] == {"decision": "approved", "cost_code": "CC-42"}
    [vote] = doc["steps"]["manager_approval"]["output"]["decisions"]
    assert vote["actor"] == "mike" and vote["data"] == {"cost_code": "CC-42", "urgent": True}
    assert vote["comment"] == "within budget"
    # sign out ends the session
    await page.click("text=Sign out")
    await page.wait_for_url(re.compile(r".*/ui/login$"))
    await page.goto(f"{stack.base}/ui")
    assert "/ui/login" in page.url
    await context.close()


async def test_sam_sees_no_task_and_a_forged_post_is_refused(stack: Stack, browser: Any) -> None:
    await start(stack, "po-1002", ["mike"])
    context, page = await sign_in(browser, stack, "sam")
    assert await page.locator("#no-tasks").count() == 1
    assert "po-1002" not in await page.inner_text("main")
    url = f"{stack.base}/ui/tasks/po-1002/manager_approval"
    response = await page.goto(url)
    assert response.status == 403 and "not assigned to you" in await page.inner_text("main")
    assert await page.locator("form#decide").count() == 0
    csrf = await page.get_attribute("form[action='/ui/logout'] input[name=csrf]", "value")
    assert csrf
    form = {"csrf": csrf, "outcome": "approved", "f.cost_code": "X"}
    forged = await page.request.post(url, form=form)
    assert forged.status == 403
    no_csrf = await page.request.post(url, form={"outcome": "approved", "f.cost_code": "X"})
    assert no_csrf.status == 403 and "CSRF" in await no_csrf.text()
    # another site cannot ride a session: no cookie travels (SameSite=Strict) and no token
    stranger = await browser.new_context()
    anonymous = await stranger.request.post(url, form=form)
    assert anonymous.status == 401
    await stranger.close()
    assert await decisions(stack, "po-1002") == []
    assert await run_state(stack, "po-1002") == "waiting"
    await context.close()


def link_from(text: str, outcome: str) -> str:
    m = re.search(rf"^  {outcome}: (\S+)\r?$", text, re.M)
    assert m, text
    return m.group(1)


async def test_decision_link_from_the_task_email(stack: Stack, browser: Any) -> None:
    await start(stack, "po-1003", ["mike"])
    for _ in range(100):
        if stack.smtp.to("mike@example.com", "po-1003"):
            break
        await asyncio.sleep(0.1)
    [mail] = stack.smtp.to("mike@example.com", "po-1003")
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    approve, reject = link_from(text, "approved"), link_from(text, "rejected")
    assert approve.startswith(f"{stack.base}/d/") and approve in html and reject in html

    # a mail scanner fetching the links decides nothing
    for link in (approve, reject):
        r = await stack.api.get(link)
        assert r.status_code == 200 and "Nothing is decided until you submit" in r.text
    assert await decisions(stack, "po-1003") == []

    # one byte changed, or expired: 400 / 410 pages, nothing decided (GET and POST)
    tok = approve.rsplit("/", 1)[1]
    i = len(tok) // 2
    tampered = approve[: -len(tok)] + tok[:i] + ("A" if tok[i] != "A" else "B") + tok[i + 1 :]
    past = datetime.now(UTC) - timedelta(seconds=1)
    expired = decision_links.url(
        stack.base,
        decision_links.sign(
            SECRET,
            decision_links.LinkClaims("po-1003", "manager_approval", "mike", "approved", past),
        ),
    )
    for link, status, words in ((tampered, 400, "not valid"), (expired, 410, "expired")):
        for method in ("GET", "POST"):
            r = await stack.api.request(method, link, data={"f.cost_code": "CC-1"})
            assert r.status_code == status and words in r.text, (method, link, r.text)
    assert await decisions(stack, "po-1003") == []
    assert await run_state(stack, "po-1003") == "waiting"

    # the approver follows the link: page, form, submit
    context = await browser.new_context(viewport={"width": 420, "height": 860})
    page = await context.new_page()
    response = await page.goto(approve)
    assert response.status == 200
    assert "Deciding as mike" in await page.inner_text("main")
    await page.fill("#f\\.cost_code", "CC-7")
    await page.fill("#comment", "approved from the e-mail")
    await page.screenshot(path=str(stack.shots / "decision-link.png"), full_page=True)
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Decision recorded")
    await until(lambda: run_state(stack, "po-1003"), "completed")
    [vote] = await decisions(stack, "po-1003")
    assert vote["actor"] == "mike" and vote["outcome"] == "approved"
    assert vote["data"] == {"cost_code": "CC-7", "urgent": False}

    # the same link again: who decided and when (409); the other outcome's link too
    for link in (approve, reject):
        response = await page.goto(link)
        assert response.status == 409
        shown = await page.inner_text("main")
        assert re.search(r"already decided by mike at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", shown)
    await page.screenshot(path=str(stack.shots / "decision-link-used.png"), full_page=True)
    r = await stack.api.post(reject, data={})
    assert r.status_code == 409
    assert [v["outcome"] for v in await decisions(stack, "po-1003")] == ["approved"]
    await context.close()


@pytest.fixture
async def mike_away(stack: Stack) -> Any:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await stack.api.put(
        "/me/delegation", json={"to": "mia", "until": tomorrow}, headers=auth("mike")
    )
    assert r.status_code == 200, r.text
    yield
    await stack.api.delete("/me/delegation", headers=auth("mike"))


async def test_delegate_decides_in_the_web_inbox(
    stack: Stack, browser: Any, mike_away: Any
) -> None:
    await start(stack, "po-1004", ["mike"])
    [pending] = (await run_doc(stack, "po-1004"))["pending"]
    assert pending["assignees"] == ["user:mia"] and pending["delegations"] == {"mike": "mia"}
    # the task e-mail goes to mia, saying for whom
    for _ in range(100):
        if stack.smtp.to("mia@example.com", "po-1004"):
            break
        await asyncio.sleep(0.1)
    [mail] = stack.smtp.to("mia@example.com", "po-1004")
    assert "on behalf of mike" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    context, page = await sign_in(browser, stack, "mia")
    await see_in_tasks(page, stack, "po-1004")
    assert "on behalf of mike" in await page.inner_text("#tasks")
    await page.click("#tasks a:has-text('po-1004')")
    assert "mike" in await page.inner_text("dl.facts")
    await page.fill("#f\\.cost_code", "CC-9")
    await page.click("button[value=approved]")
    await page.wait_for_url(re.compile(r".*/ui\?done=po-1004$"))
    await until(lambda: run_state(stack, "po-1004"), "completed")
    [vote] = await decisions(stack, "po-1004")
    assert vote["actor"] == "mia" and vote["on_behalf_of"] == "mike"
    # the task page of the closed run shows who decided for whom
    await page.goto(f"{stack.base}/ui/tasks/po-1004/manager_approval")
    assert "on behalf of mike" in await page.inner_text("table.votes")
    await context.close()


async def test_links_and_pages_need_no_bearer_but_refuse_garbage(stack: Stack) -> None:
    r = await stack.api.get("/d/not-a-token")
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert r.headers["referrer-policy"] == "no-referrer"
    r = await stack.api.get("/ui/static/style.css")
    assert r.status_code == 200 and "text/css" in r.headers["content-type"]
    r = await stack.api.get("/ui", follow_redirects=False)
    assert r.status_code == 303 and urlparse(r.headers["location"]).path == "/ui/login"
    # signing in needs the form's CSRF cookie + field
    r = await stack.api.post("/ui/login", data={"token": token("mike"), "csrf": "x"})
    assert r.status_code == 403 and "relayflow_session" not in r.cookies


async def test_link_of_a_user_no_longer_assigned_decides_nothing(stack: Stack) -> None:
    await start(stack, "po-1005", ["mike"])
    for _ in range(100):
        if stack.smtp.to("mike@example.com", "po-1005"):
            break
        await asyncio.sleep(0.1)
    [mail] = stack.smtp.to("mike@example.com", "po-1005")
    approve = link_from(mail.get_body(("plain",)).get_content(), "approved")  # type: ignore[union-attr]
    r = await stack.api.post(
        "/runs/po-1005/steps/manager_approval/reassign", json={"users": ["sam"]}, headers=auth("mike")
    )
    assert r.status_code == 200, r.text
    for method in ("GET", "POST"):
        r = await stack.api.request(method, approve, data={"f.cost_code": "CC-1"})
        assert r.status_code == 403 and "no longer assigned to mike" in r.text, r.text
    assert await decisions(stack, "po-1005") == []
    # sam, who holds the seat now, got his own e-mail with his own links
    for _ in range(100):
        if stack.smtp.to("sam@example.com", "po-1005"):
            break
        await asyncio.sleep(0.1)
    [mail] = stack.smtp.to("sam@example.com", "po-1005")
    assert "reassigned to you" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
