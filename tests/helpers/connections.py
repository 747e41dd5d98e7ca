"""The demo connections and secrets of `deploy/connections.yaml`, pointed at a test receiver.

The built-in templates call their services through connections (and Slack through
`secret:` webhook URLs); `make run` points them at the demo services on
http://127.0.0.1:8765. Tests point the same definitions at a local receiver instead:

    conns = demo_connections(receiver.url)     # name -> pinned connection (RunInput)
    for name, value in demo_secrets(receiver.url).items():
        monkeypatch.setenv(name, value)        # RELAYFLOW_SECRET_<NAME>
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "deploy" / "connections.yaml"
DEMO_BASE = "http://127.0.0.1:8765"


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(FILE.read_text())
    return doc


def demo_definitions(base: str = DEMO_BASE) -> list[dict[str, Any]]:
    """The connection documents (POST /connections bodies), base URLs moved to `base`."""
    return [
        {**c, "base_url": c["base_url"].replace(DEMO_BASE, base)} for c in _doc()["connections"]
    ]


def demo_connections(base: str = DEMO_BASE) -> dict[str, dict[str, Any]]:
    """name -> the pinned (non-secret) part, as the API puts it into `RunInput.connections`."""
    out = {}
    for c in demo_definitions(base):
        pinned = {k: v for k, v in c.items() if k in ("name", "base_url", "auth", "headers")}
        out[c["name"]] = pinned
    return out


def demo_secrets(base: str = DEMO_BASE) -> dict[str, str]:
    """`RELAYFLOW_SECRET_<NAME>` -> value of the demo secrets, URLs moved to `base`."""
    return {
        f"RELAYFLOW_SECRET_{k}": str(v).replace(DEMO_BASE, base)
        for k, v in (_doc().get("demo_secrets") or {}).items()
    }
