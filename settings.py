"""The one settings object: every knob relayflow reads from the environment (SPEC §1)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(__file__).resolve().parent / ".data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "relayflow"
    database_url: str = f"sqlite:///{DATA_DIR / 'relayflow.db'}"
    directory_file: str | None = None
    temporal_ui_url: str = "http://127.0.0.1:8233"
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = False
    smtp_from: str = "relayflow@localhost"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_public_url: str = "http://127.0.0.1:8000"
    # mTLS to Temporal (same variable names as the Temporal CLI); unset = plain text
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None
    temporal_tls_ca: str | None = None
    temporal_tls_server_name: str | None = None
    # ---- limits and time limits (docs/operations.md, "Limits")
    run_input_max_depth: int = 32
    run_input_max_bytes: int = 256 * 1024
    expression_max_value_bytes: int = 1024 * 1024
    expression_max_cpu_ms: int = 100
    template_max_steps: int = 300
    template_max_edges: int = 2000
    check_timeout: float = 2.0  # input_schema checks and trigger expressions in the API
    decision_timeout: float = 30.0  # decide / reassign updates -> 504
    temporal_rpc_timeout: float = 10.0  # lists, inbox, status queries -> 503
    database_connect_timeout: float = 5.0
    database_pool_timeout: float = 5.0
    database_statement_timeout: float = 15.0
    webhook_dedupe_seconds: int = 24 * 3600
    webhook_timestamp_tolerance: int = 300

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _parse_secrets(cls, v: object) -> object:
        if isinstance(v, str):
            return json.loads(v) if v.strip() else {}
        return v


    def temporal_tls(self) -> Any:
        """`tls=` for `Client.connect`: a TLSConfig when any TEMPORAL_TLS_* file is set, else False."""
        if not (self.temporal_tls_cert or self.temporal_tls_ca):
            return False
        from temporalio.service import TLSConfig

        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        return TLSConfig(
            server_root_ca_cert=read(self.temporal_tls_ca),
            client_cert=read(self.temporal_tls_cert),
            client_private_key=read(self.temporal_tls_key),
            domain=self.temporal_tls_server_name,
        )


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process; tests call `get_settings.cache_clear()` after changing env."""
    return Settings()
