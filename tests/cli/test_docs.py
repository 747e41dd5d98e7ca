"""docs/operations.md and docs/tutorial.md name real things: files, compose services,
settings, CLI commands; the mTLS paragraph tracks whether Temporal TLS settings exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.main import get_command

from cli.main import app
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OPS = (ROOT / "docs" / "operations.md").read_text()
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text()
TOP = ("deploy/", "tests/", "templates/", "scripts/", "alembic/", "workflows/", "api/", "cli/")
# names the docs mention that are not relayflow settings (Temporal's own, the CLI's,
# docker-compose.yml's)
FOREIGN = re.compile(r"^(TEMPORAL_(AUTH|CODEC)_\w+|RELAYFLOW_(API|TOKEN|BIND|DIRECTORY))$")


def backticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def test_paths_exist() -> None:
    for doc in (OPS, TUTORIAL):
        for token in backticked(doc):
            path = token.split()[0].split(":")[0]
            if path.startswith(TOP) and "<" not in path and "*" not in path:
                assert (ROOT / path).exists(), f"docs mention missing {path}"
    for f in ("settings.py", "worker.py", "docker-compose.yml", "api/main.py"):
        assert f in OPS and (ROOT / f).exists()


def test_compose_services_match() -> None:
    services = set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])
    table = re.findall(r"^\| `([a-z-]+)` \|", OPS, re.M)
    assert set(table) == services


def test_settings_named_exist() -> None:
    fields = {f.upper() for f in Settings.model_fields}
    for token in backticked(OPS) | backticked(TUTORIAL):
        if re.fullmatch(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+", token) and not FOREIGN.match(token):
            assert token in fields, f"{token} is not a setting"


def test_mtls_paragraph_is_current() -> None:
    has_tls = any(f.startswith("temporal_tls") for f in Settings.model_fields)
    assert ("mTLS is not implemented yet" in OPS) is not has_tls, "update 'Securing Temporal'"


def test_cli_commands_named_exist() -> None:
    root = get_command(app)
    commands = set(root.commands)  # type: ignore[attr-defined]
    for doc in (OPS, TUTORIAL):
        code = backticked(doc) | set(re.findall(r"```bash\n(.*?)```", doc, re.S))
        for snippet in code:
            for cmd in re.findall(r"\brelayflow ([a-z]+)", snippet):
                assert cmd in commands, f"relayflow {cmd} does not exist"
