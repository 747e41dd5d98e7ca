"""Settings read from the environment (SPEC §1), including mTLS to Temporal."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from settings import Settings


def test_defaults_match_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TASK_QUEUE", "TEMPORAL_UI_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)
    assert s.temporal_address == "127.0.0.1:7233"
    assert s.temporal_namespace == "default"
    assert s.task_queue == "relayflow"
    assert s.temporal_ui_url == "http://127.0.0.1:8233"
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith(".data/relayflow.db")
    assert s.temporal_tls() is False


def test_webhook_secrets_parse_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS", '{"github": "s3cret"}')
    assert Settings(_env_file=None).webhook_secrets == {"github": "s3cret"}


def test_tls_files_become_a_tls_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, content in (("ca", b"CA"), ("cert", b"CERT"), ("key", b"KEY")):
        (tmp_path / f"{name}.pem").write_bytes(content)
        monkeypatch.setenv(f"TEMPORAL_TLS_{name.upper()}", str(tmp_path / f"{name}.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.internal")
    tls = Settings(_env_file=None).temporal_tls()
    assert isinstance(tls, TLSConfig)
    assert (tls.server_root_ca_cert, tls.client_cert, tls.client_private_key) == (b"CA", b"CERT", b"KEY")
    assert tls.domain == "temporal.internal"


def test_missing_tls_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_CA", str(tmp_path / "absent.pem"))
    with pytest.raises(FileNotFoundError):
        Settings(_env_file=None).temporal_tls()
