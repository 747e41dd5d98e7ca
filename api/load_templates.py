"""Load template files into the registry without the HTTP server (used by `make run`).

    python -m api.load_templates templates/ [more dirs or files]

Every `*.yaml` / `*.yml` file directly in a given directory (not its subdirectories:
`templates/examples/` holds run inputs) and every file named explicitly is
validated and saved as a new version, unless the latest stored version has an
identical body. Templates that call others through `subflow` are retried after
the rest, so load order does not matter. Exit status 1 when a file was invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import make_engine, migrate, sessionmaker
from api.errors import RelayflowError
from api.services import registry
from api.services.owners import LOADER
from settings import get_settings
from workflows.language.loader import TemplateSyntaxError, load_document

log = logging.getLogger("relayflow.load_templates")
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
DIR_SUFFIXES = (".yaml", ".yml")


def template_files(paths: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.iterdir() if f.suffix in DIR_SUFFIXES and f.is_file())
        elif p.is_file():
            found.append(p)
    return found


async def load(
    engine: AsyncEngine, paths: Iterable[str | Path], user: str = LOADER
) -> dict[str, str]:
    """Save the files; returns `{file: "saved name@v" | "unchanged name@v" | "error: ..."}`.

    Saved as `loader`, which is never a template owner: a template first saved here has
    no owners (only admins publish new versions of it until an admin sets owners), and
    the loader itself is not subject to the owner check (it runs with database access).
    """
    results: dict[str, str] = {}
    pending: list[tuple[Path, dict]] = []  # type: ignore[type-arg]
    for f in template_files(paths):
        try:
            pending.append((f, load_document(f.read_bytes(), fmt=SUFFIXES.get(f.suffix, "yaml"))))  # type: ignore[arg-type]
        except TemplateSyntaxError as e:
            results[str(f)] = f"error: {e}"
    make_session = sessionmaker(engine)
    # a template whose subflow target is not loaded yet gets another pass
    while pending:
        failed: list[tuple[Path, dict, str]] = []  # type: ignore[type-arg]
        for f, doc in pending:
            async with make_session() as session:
                try:
                    template = await registry.validate(session, doc)
                    latest = await registry.find(session, template.name)
                    if latest is not None and latest.body == doc:
                        results[str(f)] = f"unchanged {latest.name}@{latest.version}"
                        continue
                    row = await registry.save(session, doc, template, user)
                    results[str(f)] = f"saved {row.name}@{row.version}"
                except RelayflowError as e:
                    msgs = "; ".join(f"{i.loc}: {i.msg}" for i in e.errors or []) or e.detail
                    failed.append((f, doc, f"error: {msgs}"))
        if len(failed) == len(pending):
            results.update({str(f): msg for f, _, msg in failed})
            break
        pending = [(f, doc) for f, doc, _ in failed]
    return results


async def _main(paths: list[str]) -> int:
    url = get_settings().database_url
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url)
    try:
        results = await load(engine, paths)
    finally:
        await engine.dispose()
    for f, outcome in results.items():
        (log.error if outcome.startswith("error") else log.info)("%s: %s", f, outcome)
    return 1 if any(o.startswith("error") for o in results.values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.load_templates", description=__doc__.splitlines()[0]
    )
    parser.add_argument("paths", nargs="+", help="template files or directories")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return asyncio.run(_main(args.paths))


if __name__ == "__main__":
    sys.exit(main())
