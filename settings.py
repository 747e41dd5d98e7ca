"""The one settings object: every knob relayflow reads from the environment (SPEC §1)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(__file__).resolve().parent / ".data"


class Settings(BaseSettings):
    # hide_input_in_errors: a bad value must not print secrets (PAYLOAD_KEYS, SMTP_PASSWORD) to logs
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "relayflow"
    database_url: str = f"sqlite:///{DATA_DIR / 'relayflow.db'}"
    directory_file: str | None = None
    # accept `change-me…` and short (< 16 characters) directory tokens (demo only, SPEC §8)
    allow_sample_tokens: bool = False
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
    # signs the decision links of task e-mails and the /ui session cookies (SPEC §11);
    # the API and every worker need the same value; unset = no links in e-mails, and
    # the web inbox signs sessions with a per-process random key (sign-in again on restart)
    decision_link_secret: str | None = None
    # mTLS to Temporal (same variable names as the Temporal CLI); unset = plain text
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None
    temporal_tls_ca: str | None = None
    temporal_tls_server_name: str | None = None
    # SPEC §8: secrets, egress policy, Temporal's HTTP API (never reachable by actions)
    #: directory of secret files (`SECRETS_DIR/<NAME>`, e.g. Docker/Kubernetes secrets)
    secrets_dir: str | None = None
    #: extra destinations actions may reach: comma-separated host, host:port, CIDR or `*`
    egress_allow: str = ""
    #: Temporal's HTTP API; default: TEMPORAL_ADDRESS's host with its port + 10
    temporal_http_address: str | None = None
    # encrypted payloads (SPEC §12, payload_codec.py): "<id>:<base64 of 32 bytes>,…"; unset = off
    payload_keys: SecretStr = SecretStr("")
    # Prometheus endpoint of each worker (SDK runtime): `temporal_*` + `relayflow_*` series;
    # port 0 turns it off. Bind 0.0.0.0 in containers so Prometheus can reach it.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9464
    # analytics ingester (a background task of the API): poll interval in seconds (0 = off)
    # and how far back a new, empty store reads closed runs
    analytics_interval: float = 2.0
    analytics_backfill: str = "30d"
    # event subscriptions (SPEC §14): delivery retries back off from `initial` seconds,
    # doubling up to `max`, for `for` seconds (24 h); a run's deliverer stops after `idle`
    subscription_retry_initial: float = 1.0
    subscription_retry_max: float = 300.0
    subscription_retry_for: float = 86400.0
    subscription_idle: float = 60.0
    # OpenTelemetry tracing: set to an OTLP/HTTP collector URL (e.g. http://127.0.0.1:4318)
    otel_exporter_otlp_endpoint: str | None = None
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

    @model_validator(mode="after")
    def _default_http_address(self) -> Settings:
        if not self.temporal_http_address:
            host, _, port = self.temporal_address.rpartition(":")
            if port.isdigit():
                self.temporal_http_address = f"{host}:{int(port) + 10}"
        return self

    @field_validator("payload_keys")
    @classmethod
    def _check_payload_keys(cls, v: SecretStr) -> SecretStr:
        """A malformed PAYLOAD_KEYS stops startup with the entry and the problem (never the key)."""
        from payload_codec import parse_keys

        parse_keys(v.get_secret_value())
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
