"""Create connections from a YAML/JSON file without the HTTP server (used by `make run`).

    python -m api.load_connections deploy/connections.yaml

The file holds one connection (``{name, base_url, auth?, headers?, health?}``), a list
of them, or ``{connections: [...]}`` (other top-level keys are ignored). Connections
that already exist are left as they are (an admin may have changed them); new ones are
created. Exit status 1 when an entry is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from api.connection_schemas import ConnectionIn
from api.db import make_engine, migrate, sessionmaker
from api.errors import Conflict
from api.services import connections
from settings import get_settings

log = logging.getLogger("relayflow.load_connections")


def documents(doc: Any) -> list[Any]:
    """The connection entries of a parsed file (one, a list, or under `connections:`)."""
    if isinstance(doc, dict) and "connections" in doc:
        doc = doc["connections"]
    return list(doc) if isinstance(doc, list) else [doc]


async def load(path: Path, user: str = "loader") -> dict[str, str]:
    """`{name: "created" | "exists" | "error: ..."}` for every entry of the file."""
    entries = documents(yaml.safe_load(path.read_text(encoding="utf-8")))  # JSON is YAML
    url = get_settings().database_url
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url)
    results: dict[str, str] = {}
    try:
        async with sessionmaker(engine)() as session:
            for i, entry in enumerate(entries):
                try:
                    body = ConnectionIn.model_validate(entry)
                except ValidationError as e:
                    results[f"#{i}"] = f"error: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}"
                    continue
                try:
                    await connections.create(session, body, user)
                    results[body.name] = "created"
                except Conflict:
                    results[body.name] = "exists"
    finally:
        await engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.load_connections", description=__doc__.splitlines()[0]
    )
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    results = asyncio.run(load(args.file))
    for name, outcome in results.items():
        (log.error if outcome.startswith("error") else log.info)("connection %s: %s", name, outcome)
    return 1 if any(o.startswith("error") for o in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
