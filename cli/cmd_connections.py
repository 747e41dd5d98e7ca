"""`relayflow connections list|show|check|push`: admin-owned connections (SPEC §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from cli.app import FAILED, JsonFlag, api_errors, app, client, err, out, print_json
from cli.client import ApiError

connections_app = typer.Typer(
    help="Connections: endpoints with credentials that templates name (`connection: NAME`).",
    no_args_is_help=True,
)
app.add_typer(connections_app, name="connections")


def _health(h: dict[str, Any]) -> str:
    text = str(h.get("status", "unknown"))
    if h.get("latency_ms") is not None:
        text += f" {h['latency_ms']}ms"
    if h.get("checked_at"):
        text += f" at {h['checked_at']}"
    if h.get("error"):
        text += f": {h['error']}"
    return text


def _auth(a: dict[str, Any] | None) -> str:
    if not a:
        return "none"
    who = a.get("username") or a.get("header")
    return f"{a.get('type')}{f' {who}' if who else ''} (secret {a.get('secret')})"


@connections_app.command("list")
@api_errors
def connections_list(as_json: JsonFlag = False) -> None:
    """List connections with their last health check."""
    with client() as api:
        body = api.request("GET", "/connections")
    if as_json:
        return print_json(body)
    for c in body or []:
        out.print(f"{c['name']}  {c['base_url']}  {_health(c.get('health') or {})}", markup=False)


@connections_app.command("show")
@api_errors
def connections_show(
    name: Annotated[str, typer.Argument(help="Connection name.")], as_json: JsonFlag = False
) -> None:
    """One connection: base URL, auth (the secret's NAME only), headers, health."""
    with client() as api:
        c = api.request("GET", f"/connections/{quote(name, safe='')}")
    if as_json:
        return print_json(c)
    h = c.get("health") or {}
    lines = [
        f"name      {c['name']}",
        f"base_url  {c['base_url']}",
        f"auth      {_auth(c.get('auth'))}",
        f"headers   {', '.join(f'{k}: {v}' for k, v in (c.get('headers') or {}).items()) or 'none'}",
        f"check     {h.get('method', 'GET')} {h.get('path', '/')} expect {h.get('expect')} "
        f"every {h.get('every') or 'on demand'}",
        f"health    {_health(h)}",
    ]
    out.print("\n".join(lines), markup=False)


@connections_app.command("check")
@api_errors
def connections_check(
    name: Annotated[str, typer.Argument(help="Connection name.")], as_json: JsonFlag = False
) -> None:
    """Run the health check now (operator, admin); exit 1 when it fails."""
    with client() as api:
        h = api.request("POST", f"/connections/{quote(name, safe='')}/check")
    if as_json:
        print_json(h)
    else:
        out.print(f"{name}: {_health(h)}", markup=False)
    if h.get("status") != "ok":
        raise typer.Exit(FAILED)


def _entries(path: Path) -> list[Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, yaml.YAMLError) as e:
        raise typer.BadParameter(f"cannot read {path}: {e}") from None
    if isinstance(doc, dict) and "connections" in doc:
        doc = doc["connections"]
    return list(doc) if isinstance(doc, list) else [doc]


@connections_app.command("push")
@api_errors
def connections_push(
    file: Annotated[Path, typer.Argument(help="YAML/JSON: one connection, a list, or `connections: [...]`.", exists=True, dir_okay=False)],
) -> None:
    """Create or replace (admin) every connection in FILE; prints `name created|updated`."""
    failed = 0
    with client() as api:
        for entry in _entries(file):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                err.print(f"{file}: an entry without a name was skipped")
                failed += 1
                continue
            try:
                try:
                    api.request("POST", "/connections", json=entry)
                    out.print(f"{name} created", markup=False)
                except ApiError as e:
                    if e.status != 409:
                        raise
                    api.request("PUT", f"/connections/{quote(name, safe='')}", json=entry)
                    out.print(f"{name} updated", markup=False)
            except ApiError as e:
                if e.status != 422:
                    raise
                failed += 1
                err.print(f"{name}: {e.detail}", markup=False)
    if failed:
        raise typer.Exit(FAILED)
