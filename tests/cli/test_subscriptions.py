"""`relayflow subscriptions list|add|rm|deliveries` against the real stack (SPEC §14): an
operator subscribes a local receiver (behind a connection an admin defines) to completed
runs of one template; a run delivers; the log shows it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx

from tests.cli.conftest import TOKENS, Cli, Stack
from tests.helpers.http_receiver import HttpReceiver, Reply


def test_an_operator_subscribes_a_receiver_and_reads_the_log(
    cli: Cli, stack: Stack, tmp_path: Path
) -> None:
    name = f"cli-subs-{uuid.uuid4().hex[:6]}"
    (tmp_path / "t.yaml").write_text(
        f"name: {name}\nsteps:\n  - id: hi\n    action: log\n    with: {{message: hi}}\n"
    )
    assert cli("templates", "push", str(tmp_path), user="dana").exit_code == 0
    with HttpReceiver(Reply(200, {"ok": True})) as rx:
        conn = f"rx-{uuid.uuid4().hex[:6]}"
        r = httpx.post(
            f"{stack.api}/connections", json={"name": conn, "base_url": rx.url},
            headers={"Authorization": f"Bearer {TOKENS['alice']}"}, timeout=30,
        )
        assert r.status_code == 201, r.text
        sub = f"done-{uuid.uuid4().hex[:6]}"
        args = ("subscriptions", "add", sub, "-e", "run.completed", "--template", name,
                "--connection", conn, "--path", "/events")
        refused = cli(*args, user="dana")
        assert refused.exit_code != 0 and "operator" in refused.output, refused.output
        added = cli(*args, user="olga")
        assert added.exit_code == 0, added.output
        listed = cli("subscriptions", "list", user="olga")
        assert sub in listed.output and f"connection {conn}/events" in listed.output
        run_id = f"subs-{uuid.uuid4().hex[:8]}"
        assert cli("run", name, "--run-id", run_id).exit_code == 0
        deadline = time.monotonic() + 30
        while not rx.at("/events") and time.monotonic() < deadline:
            time.sleep(0.1)
        [got] = rx.at("/events")
        assert json.loads(got.body)["run_id"] == run_id
        log = cli("subscriptions", "deliveries", sub, "--json", user="olga")
        deadline = time.monotonic() + 10
        while '"delivered"' not in log.output and time.monotonic() < deadline:
            time.sleep(0.2)
            log = cli("subscriptions", "deliveries", sub, "--json", user="olga")
        [entry] = json.loads(log.output)
        assert (entry["event"], entry["status"]) == (got.header("X-Delivery-Id"), "delivered")
        assert cli("subscriptions", "rm", sub, user="olga").exit_code == 0
        assert sub not in cli("subscriptions", "list", user="olga").output
