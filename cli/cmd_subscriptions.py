"""`relayflow subscriptions list|add|rm|deliveries`: run event subscriptions (SPEC §14)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from cli.app import JsonFlag, api_errors, app, client, out, print_json

subscriptions_app = typer.Typer(
    help="Event subscriptions: run events (failed, completed, approvals, ...) sent elsewhere.",
    no_args_is_help=True,
)
app.add_typer(subscriptions_app, name="subscriptions")


def _target(t: dict[str, Any]) -> str:
    if "url" in t:
        text = str(t["url"])
    elif "connection" in t:
        text = f"connection {t['connection']}{t.get('path') or ''}"
    else:
        text = f"{t.get('action')} {t.get('with') or {}}"
    return text + (f" (signed with {t['secret']})" if t.get("secret") else "")


@subscriptions_app.command("list")
@api_errors
def subscriptions_list(as_json: JsonFlag = False) -> None:
    """List subscriptions: id, events, filters, target."""
    with client() as api:
        body = api.request("GET", "/subscriptions")
    if as_json:
        return print_json(body)
    for s in body or []:
        where = s.get("template") or "any template"
        tags = ",".join(f"{k}={v}" for k, v in (s.get("tags") or {}).items())
        line = f"{s['id']}  {','.join(s['events'])}  {where}{f' [{tags}]' if tags else ''}"
        out.print(f"{line}  -> {_target(s.get('target') or {})}", markup=False)


def _tags(values: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--tag {v!r}: write KEY=VALUE")
        tags[key] = value
    return tags


@subscriptions_app.command("add")
@api_errors
def subscriptions_add(
    sub_id: Annotated[str, typer.Argument(help="Subscription id (a-z, 0-9, . _ -).")],
    event: Annotated[list[str], typer.Option("--event", "-e", help="An event type (repeat).")],
    template: Annotated[str | None, typer.Option(help="Only runs of this template.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only runs with this tag, KEY=VALUE (repeat).")] = None,
    url: Annotated[str | None, typer.Option(help="POST events to this URL.")] = None,
    connection: Annotated[str | None, typer.Option(help="POST events through this connection.")] = None,
    path: Annotated[str | None, typer.Option(help="With --connection: the path under its base_url.")] = None,
    secret: Annotated[str | None, typer.Option(help="Secret NAME to sign deliveries with.")] = None,
    slack: Annotated[str | None, typer.Option(help="Post to Slack: the incoming-webhook URL or secret:NAME.")] = None,
    email: Annotated[list[str] | None, typer.Option(help="Email these addresses (repeat).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Subscribe (operator, admin); give one target: --url, --connection, --slack or --email."""
    target: dict[str, Any] = {}
    if url is not None:
        target["url"] = url
    if connection is not None:
        target["connection"] = connection
    if path is not None:
        target["path"] = path
    if secret is not None:
        target["secret"] = secret
    if slack is not None:
        target.update({"action": "slack", "with": {"url": slack}})
    if email:
        target.update({"action": "email", "with": {"to": list(email)}})
    body: dict[str, Any] = {"id": sub_id, "events": list(event), "target": target}
    if template is not None:
        body["template"] = template
    if tag:
        body["tags"] = _tags(tag)
    with client() as api:
        created = api.request("POST", "/subscriptions", json=body)
    if as_json:
        return print_json(created)
    out.print(f"{created['id']} created", markup=False)


@subscriptions_app.command("rm")
@api_errors
def subscriptions_rm(sub_id: Annotated[str, typer.Argument(help="Subscription id.")]) -> None:
    """Delete a subscription (operator, admin); runs that pinned it stop delivering to it."""
    with client() as api:
        api.request("DELETE", f"/subscriptions/{quote(sub_id, safe='')}")
    out.print(f"{sub_id} deleted", markup=False)


@subscriptions_app.command("deliveries")
@api_errors
def subscriptions_deliveries(
    sub_id: Annotated[str, typer.Argument(help="Subscription id.")], as_json: JsonFlag = False
) -> None:
    """The last 100 deliveries: event, type, run, status, attempts, last error."""
    with client() as api:
        body = api.request("GET", f"/subscriptions/{quote(sub_id, safe='')}/deliveries")
    if as_json:
        return print_json(body)
    for d in body or []:
        line = f"{d['at']}  {d['event']}  {d['type']}  {d['run_id']}  {d['status']} x{d['attempts']}"
        if d.get("last_error"):
            line += f"  {d['last_error']}"
        out.print(line, markup=False)
