"""Decision links (SPEC §11): `GET /d/<token>` shows a confirmation page and never
decides (mail scanners prefetch links); `POST /d/<token>` decides as the link's user
through the same `decide` Update as the API (validator, quorum, form, actor record).

Pages: tampered → 400, expired → 410, already decided (by this user, or the task is
closed) → 409 naming who decided and when, no longer an assignee → 403, unknown run
→ 404. No bearer token: the signed token is the credential, bound to one run, step,
user and outcome until the approval's due time (at most 30 days).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from activities import decision_links
from api.auth import assignee_keys
from api.deps import TemporalDep
from api.errors import NotFound, RelayflowError
from api.services import runs
from api.ui import context, forms, pages
from workflows.engine.io import DecideInput

router = APIRouter(prefix="/d", include_in_schema=False)


async def _claims(request: Request, token: str) -> decision_links.LinkClaims | HTMLResponse:
    secret = request.app.state.settings.decision_link_secret
    if not secret:
        return pages.message(
            request, 400, "Link not valid", "Decision links are not enabled on this server."
        )
    try:
        claims = decision_links.verify(secret, token, datetime.now(UTC))
    except decision_links.LinkExpired as e:
        return pages.message(
            request,
            410,
            "Link expired",
            f"This decision link expired at {e.claims.expires:%Y-%m-%d %H:%M UTC}; "
            "nothing was decided. Open the task in your web inbox instead.",
        )
    except decision_links.LinkTampered:
        return pages.message(
            request,
            400,
            "Link not valid",
            "This decision link is not valid (it may have been altered or cut off in the "
            "e-mail); nothing was decided.",
        )
    directory = request.app.state.directory.get()
    if directory.users and directory.user(claims.user) is None:
        return pages.message(request, 403, "Not allowed", "This link's user no longer exists.")
    return claims


async def _task_or_page(
    request: Request, client: TemporalDep, claims: decision_links.LinkClaims
) -> context.TaskView | HTMLResponse:
    try:
        task = await context.load(client, claims.run_id, claims.step)
    except NotFound:
        return pages.message(request, 404, "No such run", f"Run {claims.run_id} does not exist.")
    user = request.app.state.directory.get().user(claims.user)
    keys = assignee_keys(user) if user is not None else [f"user:{claims.user}"]
    if task.open and not task.decides(claims.user, keys) and task.vote_of(claims.user) is None:
        return pages.message(
            request,
            403,
            "Not assigned to you any more",
            f"Step {task.step} of {task.run_id} is no longer assigned to {claims.user} "
            "(it was handed over or reassigned); nothing was decided.",
        )
    mine = task.vote_of(claims.user)
    if mine is not None and not task.on_behalf_for(claims.user):
        return pages.message(
            request,
            409,
            "Already decided",
            f"This task was already decided by {mine.actor} at {mine.at} ({mine.outcome}).",
            task=task,
        )
    if not task.open:
        last = task.votes[-1] if task.votes else None
        who = f" by {last.actor} at {last.at}" if last else ""
        what = f" ({task.decision})" if task.decision else ""
        return pages.message(
            request,
            409,
            "Already decided",
            f"This task was already decided{who}{what}; nothing more to do.",
            task=task,
        )
    return task


def _form_page(
    request: Request,
    token: str,
    claims: decision_links.LinkClaims,
    task: context.TaskView,
    status_code: int = 200,
    errors: list[str] | None = None,
    values: Mapping[str, Any] | None = None,
    comment: str | None = None,
) -> HTMLResponse:
    return pages.page(
        request,
        "link.html",
        status_code,
        title=f"{claims.outcome}: {task.step}",
        task=task,
        outcome=claims.outcome,
        link_user=claims.user,
        action=str(request.url.path),
        on_behalf=task.on_behalf_for(claims.user),
        fields=forms.fields(task.form, values),
        errors=errors,
        comment=comment,
    )


@router.get("/{token}")
async def show(request: Request, token: str, client: TemporalDep) -> Response:
    """The confirmation page; decides nothing."""
    claims = await _claims(request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    task = await _task_or_page(request, client, claims)
    if isinstance(task, HTMLResponse):
        return task
    return _form_page(request, token, claims, task)


@router.post("/{token}")
async def submit(request: Request, token: str, client: TemporalDep) -> Response:
    """Decide as the link's user with the link's outcome (and the page's comment/form)."""
    claims = await _claims(request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    task = await _task_or_page(request, client, claims)
    if isinstance(task, HTMLResponse):
        return task
    posted = {k: str(v) for k, v in (await request.form()).items()}
    comment = posted.get("comment") or None
    values = {k[len(forms.PREFIX) :]: v for k, v in posted.items() if k.startswith(forms.PREFIX)}
    try:
        data = forms.parse(task.form, posted)
    except forms.FormInputError as e:
        return _form_page(
            request, token, claims, task, 422, [m for _, m in e.errors], values, comment
        )
    decision = DecideInput(
        step=claims.step, outcome=claims.outcome, actor=claims.user, comment=comment, data=data
    )
    try:
        st = await runs.decide_as(client, claims.run_id, decision)
    except RelayflowError as e:
        if e.status_code == 409:
            again = await _task_or_page(request, client, claims)
            if isinstance(again, HTMLResponse):
                return again
        if e.status_code == 422:
            errors = [f"{i.loc}: {i.msg}" for i in e.errors or []] or [e.detail]
            return _form_page(request, token, claims, task, 422, errors, values, comment)
        return pages.message(request, e.status_code, "Not decided", e.detail)
    settled = (
        f" The step's decision is now: {st.decision}."
        if st.decision
        else (" More decisions are needed before the step is settled.")
    )
    return pages.message(
        request,
        200,
        "Decision recorded",
        f"You decided {claims.outcome} on {task.step} of {task.run_id}.{settled}",
    )
