"""The web inbox at `/ui` (SPEC §11): sign in with an API token, "My tasks", a task
page with the run's context, the step's form and its outcomes as buttons.

Every POST carries a CSRF token (`api.ui.session`); the server validates the form
data again (the workflow's `decide` validator is the judge). Decisions go through
the same path as `POST /runs/{id}/steps/{step}/decision`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from temporalio.client import Client

from activities.directory import User
from api.auth import assignee_keys, authenticate
from api.deps import SessionDep, get_temporal
from api.errors import Invalid, NotFound, RelayflowError, Unauthorized
from api.schemas import RUN_ID
from api.schemas_people import DelegationIn
from api.services import delegations, listing, runs
from api.ui import context, forms, pages, session

router = APIRouter(prefix="/ui", include_in_schema=False)
_RUN_ID = re.compile(RUN_ID)
STYLES = {"style.css": pages.STATIC / "style.css"}
StepPath = Annotated[str, Path(min_length=1, max_length=300)]


def _login_redirect(request: Request) -> RedirectResponse:
    nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={nxt}", status_code=303)


def _safe_next(value: str | None) -> str:
    """Only paths inside the web inbox (no open redirect)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui"


@router.get("/static/{name}")
async def static(name: str) -> Response:
    path = STYLES.get(name)
    if path is None:
        return Response(status_code=404)
    return FileResponse(path, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    if session.session_user(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    first = HTMLResponse("")
    token = session.login_csrf(request, first)
    return _rerender(
        request, first, "login.html", title="Sign in", csrf=token, next=_safe_next(next)
    )


def _rerender(
    request: Request, first: HTMLResponse, name: str, status_code: int = 200, **ctx: object
) -> HTMLResponse:
    """Render `name` with `ctx`, keeping the cookies `first` set."""
    response = pages.page(request, name, status_code, **ctx)
    for key, value in first.raw_headers:
        if key.lower() == b"set-cookie":
            response.raw_headers.append((key, value))
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    posted = await request.form()
    nxt = _safe_next(str(posted.get("next") or ""))
    error, status_code = None, 200
    if not session.login_csrf_ok(request, str(posted.get("csrf") or "")):
        error, status_code = "The sign-in form expired; please try again.", 403
    else:
        try:
            user = authenticate(request.app.state.directory.get(), str(posted.get("token") or ""))
        except Unauthorized:
            error, status_code = "That token is not valid.", 401
        else:
            response = RedirectResponse(nxt, status_code=303)
            session.start(request, response, user)
            return response
    first = HTMLResponse("")
    token = session.login_csrf(request, first)
    return _rerender(
        request,
        first,
        "login.html",
        status_code,
        title="Sign in",
        csrf=token,
        next=nxt,
        error=error,
    )


@router.post("/logout")
async def logout(request: Request) -> Response:
    posted = await request.form()
    if session.session_user(request) is not None and not session.csrf_ok(
        request, str(posted.get("csrf") or "")
    ):
        return pages.message(request, 403, "Not signed out", "The form was not valid.")
    response = RedirectResponse("/ui/login", status_code=303)
    session.end(request, response)
    return response


def _common(request: Request, user: User) -> dict[str, object]:
    return {"user": user, "csrf": session.csrf_token(request)}


@router.get("")
async def my_tasks(request: Request, db: SessionDep, done: str | None = None) -> Response:
    user = session.session_user(request)
    if user is None:
        return _login_redirect(request)
    return await _tasks_page(request, get_temporal(request), db, user, done=done)


async def _tasks_page(
    request: Request,
    client: Client,
    db: SessionDep,
    user: User,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    items = await listing.inbox(client, user)
    tasks = [
        {
            "run_id": i.run_id,
            "template": i.template,
            "version": i.version,
            "step": p.step,
            "outcomes": p.outcomes,
            "due_at": p.due_at,
            "on_behalf": [s for s, d in p.delegations.items() if d == user.id],
        }
        for i in items
        for p in i.pending
    ]
    flash = f"Decision recorded on {done}." if done and _RUN_ID.match(done) else None
    delegation = await delegations.get(db, user)
    return pages.page(
        request,
        "tasks.html",
        status_code,
        title="My tasks",
        tasks=tasks,
        flash=flash,
        error=error,
        delegation=delegation,
        **_common(request, user),
    )


@router.post("/delegation")
async def set_delegation(request: Request, db: SessionDep) -> Response:
    user = session.session_user(request)
    if user is None:
        return pages.message(request, 401, "Signed out", "Please sign in again.")
    posted = await request.form()
    if not session.csrf_ok(request, str(posted.get("csrf") or "")):
        return pages.message(request, 403, "Not saved", "The form was not valid; reload the page.")
    if posted.get("action") == "clear":
        await delegations.delete(db, user)
        return RedirectResponse("/ui", status_code=303)
    until_raw = str(posted.get("until") or "").strip()
    try:
        until = datetime.fromisoformat(until_raw).replace(tzinfo=UTC) if until_raw else None
        body = DelegationIn(to=str(posted.get("to") or "").strip(), until=until)
        await delegations.put(db, request.app.state.directory.get(), user, body)
    except (ValueError, Invalid) as e:
        detail = e.detail if isinstance(e, Invalid) else "Give a user id and a valid date."
        client = get_temporal(request)
        return await _tasks_page(request, client, db, user, error=detail, status_code=422)
    return RedirectResponse("/ui", status_code=303)


@router.get("/tasks/{run_id}/{step}")
async def task_page(request: Request, run_id: str, step: StepPath) -> Response:
    user = session.session_user(request)
    if user is None:
        return _login_redirect(request)
    return await _task(request, get_temporal(request), user, run_id, step)


async def _task(
    request: Request,
    client: Client,
    user: User,
    run_id: str,
    step: str,
    status_code: int = 200,
    errors: list[str] | None = None,
    values: Mapping[str, Any] | None = None,
    comment: str | None = None,
) -> HTMLResponse:
    if not _RUN_ID.match(run_id):
        return pages.message(request, 404, "No such task", "That run id is not valid.")
    try:
        task = await context.load(client, run_id, step)
    except NotFound:
        return pages.message(request, 404, "No such task", f"Run {run_id} does not exist.")
    can = task.decides(user.id, assignee_keys(user)) or (task.open and user.is_admin)
    why_not = ""
    if not task.open:
        why_not = (
            f"This task is closed (decision: {task.decision})."
            if task.decision
            else "This task is not waiting for a decision."
        )
    elif not can:
        why_not = "This task is not assigned to you."
        status_code = 403
    elif (mine := task.vote_of(user.id)) is not None and not task.on_behalf_for(user.id):
        can, why_not = False, f"You already decided: {mine.outcome} at {mine.at}."
    return pages.page(
        request,
        "task.html",
        status_code,
        title=task.step,
        task=task,
        can_decide=can,
        why_not=why_not,
        on_behalf=task.on_behalf_for(user.id),
        fields=forms.fields(task.form, values),
        errors=errors,
        comment=comment,
        **_common(request, user),
    )


@router.post("/tasks/{run_id}/{step}")
async def decide(request: Request, run_id: str, step: StepPath) -> Response:
    user = session.session_user(request)
    if user is None:
        return pages.message(
            request, 401, "Signed out", "Please sign in again; nothing was decided."
        )
    posted = await request.form()
    if not session.csrf_ok(request, str(posted.get("csrf") or "")):
        return pages.message(
            request, 403, "Not decided", "The form was not valid (CSRF check); nothing was decided."
        )
    if not _RUN_ID.match(run_id):
        return pages.message(request, 404, "No such task", "That run id is not valid.")
    fields_in = {k: str(v) for k, v in posted.items()}
    outcome = fields_in.get("outcome", "")
    comment = fields_in.get("comment") or None
    client = get_temporal(request)
    try:
        task = await context.load(client, run_id, step)
    except NotFound:
        return pages.message(request, 404, "No such task", f"Run {run_id} does not exist.")
    values = {k[len(forms.PREFIX) :]: v for k, v in fields_in.items() if k.startswith(forms.PREFIX)}
    try:
        data = forms.parse(task.form, fields_in)
    except forms.FormInputError as e:
        return await _task(
            request, client, user, run_id, step, 422, [m for _, m in e.errors], values, comment
        )
    try:
        await runs.decide(client, run_id, step, user, outcome, comment, data)
    except RelayflowError as e:
        errors = [f"{i.loc}: {i.msg}" for i in e.errors or []] or [e.detail]
        return await _task(
            request, client, user, run_id, step, e.status_code, errors, values, comment
        )
    return RedirectResponse(f"/ui?done={run_id}", status_code=303)
