"""Out-of-office resolution (SPEC §11): chains, cycles, expiry, both sources, the DB read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from temporalio.exceptions import ApplicationError

from activities import delegation
from activities.directory import Delegate, Directory, load_directory
from api.db import migrate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_follow_chains_cycles_and_hops() -> None:
    assert delegation.follow("mike", {}) == "mike"
    assert delegation.follow("mike", {"mike": "mia", "mia": "sam"}) == "sam"
    # a cycle stops at the first user seen twice
    assert delegation.follow("mike", {"mike": "mia", "mia": "mike"}) == "mike"
    assert delegation.follow("a", {"a": "b", "b": "c", "c": "b"}) == "b"
    chain = {f"u{i}": f"u{i + 1}" for i in range(10)}
    assert delegation.follow("u0", chain) == "u5"  # at most 5 hops


def test_active_map_merges_sources_and_drops_expired_or_unknown() -> None:
    directory = Directory.model_validate(
        {
            "users": [
                {"id": "mike", "delegate": {"to": "mia"}},
                {"id": "mia", "delegate": {"to": "sam", "until": "2026-11-30"}},  # over
                {"id": "sam", "delegate": {"to": "ghost"}},  # not in the directory
                {"id": "ann"},
            ]
        }
    )
    assert delegation.active_map(directory, {}, NOW) == {"mike": "mia"}
    self_service = {"mike": Delegate(to="ann", until=NOW + timedelta(hours=1))}
    assert delegation.active_map(directory, self_service, NOW) == {"mike": "ann"}
    later = NOW + timedelta(hours=2)
    assert delegation.active_map(directory, self_service, later) == {}


def test_directory_delegate_until_forms(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "users": [
                    {"id": "a", "delegate": {"to": "b", "until": "2026-12-24"}},
                    {"id": "b", "delegate": {"to": "a", "until": "2026-12-24T18:00:00"}},
                    {"id": "c", "delegate": {"to": "a", "until": "2026-12-24T18:00:00+01:00"}},
                ]
            }
        )
    )
    users = load_directory(path).users
    assert [u.delegate.until for u in users if u.delegate] == [
        datetime(2026, 12, 24, tzinfo=UTC),
        datetime(2026, 12, 24, 18, tzinfo=UTC),
        datetime(2026, 12, 24, 17, tzinfo=UTC),
    ]
    with pytest.raises(ValueError):
        Directory.model_validate({"users": [{"id": "x", "delegate": {"to": "y", "until": "soon"}}]})


def test_stored_reads_the_delegations_table(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert delegation.stored(missing) == {}
    assert not (tmp_path / "none.db").exists()  # never created by the worker
    bare = tmp_path / "bare.db"
    create_engine(f"sqlite:///{bare}").connect().close()
    assert delegation.stored(f"sqlite:///{bare}") == {}  # not migrated yet
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    migrate(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO delegations (user_id, to_user, until, updated_at) VALUES "
                 "('mike', 'mia', '2026-12-02 10:00:00.000000', '2026-12-01 00:00:00.000000'),"
                 "('sam', 'ann', NULL, '2026-12-01 00:00:00.000000')")
        )
    engine.dispose()
    got = delegation.stored(url)
    assert got == {
        "mike": Delegate(to="mia", until=datetime(2026, 12, 2, 10, tzinfo=UTC)),
        "sam": Delegate(to="ann"),
    }


def test_unreachable_database_is_a_retryable_error() -> None:
    # nothing listens on port 1 of loopback: connection refused at once
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    with pytest.raises(ApplicationError) as e:
        delegation.stored(url)
    assert e.value.type == "DelegationsUnavailable" and not e.value.non_retryable
