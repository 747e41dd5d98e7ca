"""`relayflow templates owners` and the read rule through the CLI, against the `make run`
stack (whose demo directory's change-me tokens work because devstack sets
ALLOW_SAMPLE_TOKENS=true)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.cli.conftest import Cli

DOC = """\
name: {name}
steps:
  - id: note
    action: log
    with: {{message: "{message}"}}
"""


def test_owners_command(cli: Cli, tmp_path: Path) -> None:
    r = cli("templates", "owners", "purchase-order")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "purchase-order: (no owners: admins only)"  # loaded by make run

    name = f"cli-owned-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "t.yaml"
    path.write_text(DOC.format(name=name, message="v1"))
    assert cli("templates", "push", str(path), user="dana").exit_code == 0
    assert cli("templates", "owners", name).stdout.strip() == f"{name}: dana"

    r = cli("templates", "owners", name, "--set", "mike", user="dana")  # not an admin
    assert r.exit_code == 3 and "(HTTP 403)" in r.stderr
    r = cli("templates", "owners", name, "--set", "", "--json", user="alice")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"name": name, "owners": []}

    path.write_text(DOC.format(name=name, message="v2"))
    r = cli("templates", "push", str(path), user="dana")
    assert r.exit_code == 3 and "(HTTP 403)" in r.stderr and "no owners (admins only)" in r.stderr
    r = cli("templates", "owners", name, "--set", "dana, mike", user="alice")
    assert r.stdout.strip() == f"{name}: dana, mike"
    assert cli("templates", "push", str(path), user="dana").stdout.startswith(f"{name}@2")

    r = cli("templates", "owners", "no-such-template", "--set", "dana", user="alice")
    assert r.exit_code == 3 and "(HTTP 404)" in r.stderr


def test_status_of_someone_elses_run_is_404(cli: Cli, tmp_path: Path) -> None:
    name = f"cli-private-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.yaml").write_text(DOC.format(name=name, message="hi"))
    assert cli("templates", "push", str(tmp_path / "t.yaml"), user="dana").exit_code == 0
    r = cli("run", name, "--wait", "--timeout", "60")  # sam starts it
    assert r.exit_code == 0, r.output
    run_id = r.stdout.splitlines()[0]
    for reader in ("sam", "dana", "olga", "alice"):  # starter, owner, operator, admin
        assert cli("status", run_id, user=reader).exit_code == 0, reader
    for outsider in ("mike", "dave"):
        r = cli("status", run_id, user=outsider)
        assert r.exit_code == 3 and "(HTTP 404)" in r.stderr, outsider
        assert run_id not in cli("runs", "--template", name, user=outsider).stdout
    assert run_id in cli("runs", "--template", name, user="dana").stdout
