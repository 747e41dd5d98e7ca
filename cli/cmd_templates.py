"""`relayflow validate`, `graph` (offline) and `templates push|list|owners` (through the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import (
    FAILED,
    JsonFlag,
    api_errors,
    app,
    client,
    err,
    out,
    print_json,
    show_problems,
    templates_app,
)
from cli.client import ApiError, items
from cli.offline import Problem, check_files, fmt_of, mermaid, place


@app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Template files (.yaml, .yml, .json) or directories of them.", exists=True)
    ],
) -> None:
    """Validate templates offline, exactly as the API would (exit 1 on findings).

    Prints `file:line: loc: message` per finding. `subflow` targets are looked up
    among the given files and their directories.
    """
    files = _template_files(list(files))
    if not files:
        err.print("no *.yaml, *.yml or *.json files found")
        raise typer.Exit(FAILED)
    problems = check_files(files)
    show_problems(problems)
    if problems:
        err.print(f"{len(problems)} finding(s) in {len({p.file for p in problems})} file(s)")
        raise typer.Exit(FAILED)
    err.print(f"{len(files)} template(s) valid")


@app.command()
def graph(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Print the template's step DAG as Mermaid (paste into Markdown or mermaid.live)."""
    text, problems = mermaid(file)
    if text is None:
        show_problems(problems)
        raise typer.Exit(FAILED)
    typer.echo(text.rstrip("\n"))


# -- templates -----------------------------------------------------------------------------


def _template_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix.lower() in (".yaml", ".yml", ".json"))
        else:
            found.append(p)
    return found


@templates_app.command("push")
@api_errors
def templates_push(
    paths: Annotated[list[Path], typer.Argument(help="Directories (their *.yaml/*.yml/*.json) or files.", exists=True)],
) -> None:
    """Save every template file as a new version; prints `name@version` per file."""
    files = _template_files(list(paths))
    if not files:
        err.print("no *.yaml, *.yml or *.json files found")
        raise typer.Exit(FAILED)
    failed = 0
    with client() as api:
        for f in files:
            text = f.read_text(encoding="utf-8")
            try:
                saved = api.save_template(text, fmt_of(f))
            except ApiError as e:
                if e.status != 422:
                    raise
                failed += 1
                show_problems(place(str(f), text, e.errors) or [Problem(str(f), None, "", e.detail)])
                continue
            out.print(f"{saved['name']}@{saved['version']}  ({f})", markup=False)
    if failed:
        err.print(f"{failed} of {len(files)} file(s) rejected")
        raise typer.Exit(FAILED)


@templates_app.command("list")
@api_errors
def templates_list(as_json: JsonFlag = False) -> None:
    """List the registry's templates with their latest version."""
    with client() as api:
        body = api.list_templates()
    if as_json:
        return print_json(body)
    for t in items(body, "templates"):
        if isinstance(t, dict):
            desc = f"  {t['description']}" if t.get("description") else ""
            out.print(f"{t.get('name')}@{t.get('version') or t.get('latest_version')}{desc}", markup=False)
        else:
            out.print(str(t), markup=False)


@templates_app.command("owners")
@api_errors
def templates_owners(
    name: Annotated[str, typer.Argument(help="Template name.")],
    set_: Annotated[
        str | None,
        typer.Option(
            "--set",
            help="Replace the owners with these comma-separated user ids (admin only); "
            "an empty value leaves the template to admins.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a template's owners (who, with admins, publish new versions and read its runs),
    or replace them with --set."""
    with client() as api:
        if set_ is None:
            body = {"name": name, "owners": api.get_template(name).get("owners", [])}
        else:
            users = [u.strip() for u in set_.split(",") if u.strip()]
            body = api.set_template_owners(name, users)
    if as_json:
        return print_json(body)
    owners = body.get("owners") or []
    out.print(f"{name}: {', '.join(owners) if owners else '(no owners: admins only)'}", markup=False)
