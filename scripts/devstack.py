"""`make run`: the embedded stack — Temporal dev server (+ Web UI), a worker and the API.

Data lives in `.data/` (or RELAYFLOW_DATA_DIR), so a second `make run` sees earlier runs.
Ctrl-C (or SIGTERM) stops all three and waits for them; nothing is left behind.

The Web UI runs without its news feed (`--ui-disable-news-fetch`): nothing reaches the internet.
Trust boundary (SPEC §8): the dev server's HTTP API is pinned to TEMPORAL_HTTP_ADDRESS
(never reachable by actions, like the frontend, the UI and the API); actions may reach
only the demo services (`EGRESS_ALLOW=127.0.0.1:8765`, unless EGRESS_ALLOW is already
set); the demo connections of `deploy/connections.yaml` are created when missing and
its demo secrets given to the worker (RELAYFLOW_SECRET_<NAME>, unless already set).
If this process is killed outright (SIGKILL, OOM killer), the kernel kills the three
children too (Linux parent-death signal), so none keeps holding its port.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import ValidationError  # noqa: E402

from settings import Settings, get_settings  # noqa: E402
from workflows.engine.search_attributes import cli_flags  # noqa: E402

log = logging.getLogger("relayflow.devstack")
BIN = Path(sys.executable).parent
CONNECTIONS = ROOT / "deploy" / "connections.yaml"
#: where scripts/demo_services.py listens: the only destination `make run` lets actions reach
DEMO_SERVICES = "127.0.0.1:8765"


def demo_env(env: dict[str, str]) -> None:
    """EGRESS_ALLOW and the demo secrets, each unless the environment already sets it."""
    import yaml

    env.setdefault("EGRESS_ALLOW", DEMO_SERVICES)
    demo = yaml.safe_load(CONNECTIONS.read_text()).get("demo_secrets") or {}
    for name, value in demo.items():
        env.setdefault(f"RELAYFLOW_SECRET_{name}", str(value))


PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """In the child (Popen's preexec_fn): get SIGKILL when `parent` dies (Linux only).

    The check after prctl covers a parent that died between fork and prctl."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


class Stack:
    """Child processes, each in its own process group so a stop reaches their children too."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        parent = os.getpid()
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, start_new_session=True, preexec_fn=lambda: die_with(parent)
        )
        self.procs.append((name, proc))
        log.info("started %s (pid %d)", name, proc.pid)
        return proc

    def failed(self) -> str | None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                return f"{name} exited with code {proc.returncode}"
        return None

    def stop(self) -> None:
        # a second Ctrl-C while stopping must not orphan a child
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for name, proc in reversed(self.procs):  # API and worker first, Temporal last
            if proc.poll() is None:
                log.info("stopping %s", name)
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            try:  # grandchildren that outlived their parent
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_http(url: str, stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if problem := stack.failed():
            raise RuntimeError(problem)
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def link_secret(data: Path) -> str:
    """A random DECISION_LINK_SECRET kept in the data folder, so e-mailed decision links
    and web-inbox sessions survive a restart of `make run`."""
    path = data / "decision-link-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def codec_on(s: Settings) -> bool:
    """PAYLOAD_KEYS set: payloads are encrypted and the API is the UI's codec server."""
    return bool(s.payload_keys.get_secret_value().strip())


def ui_flags(s: Settings) -> list[str]:
    """Web UI options: no news feed (the UI would fetch it from the internet; SPEC §1 wants
    nothing to leave the machine); with PAYLOAD_KEYS set, the UI decodes payloads through
    the API's codec server."""
    flags = ["--ui-disable-news-fetch"]
    if codec_on(s):
        flags += ["--ui-codec-endpoint", f"http://{s.api_host}:{s.api_port}/codec"]
    return flags


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(message)s")
    try:
        s = get_settings()
    except ValidationError as err:  # e.g. a malformed PAYLOAD_KEYS: say what, start nothing
        log.error("could not start: invalid settings: %s", err)
        return 1
    data = Path(os.environ.get("RELAYFLOW_DATA_DIR", ROOT / ".data"))
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DIRECTORY_FILE", str(ROOT / "deploy" / "directory.yaml"))
    # the demo directory's change-me-* tokens are fine on a laptop (SPEC §8); an explicit
    # ALLOW_SAMPLE_TOKENS in the environment wins
    env.setdefault("ALLOW_SAMPLE_TOKENS", "true")
    env.setdefault("DATABASE_URL", f"sqlite:///{data / 'relayflow.db'}")
    demo_env(env)
    env.setdefault("DECISION_LINK_SECRET", link_secret(data))
    host, _, port = s.temporal_address.rpartition(":")
    http_port = (s.temporal_http_address or "").rpartition(":")[2] or str(int(port) + 10)
    ui_port = urlparse(s.temporal_ui_url).port or 8233
    stack = Stack()
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    # set both explicitly: a background job inherits SIGINT as ignored
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start("temporal", [
            str(BIN / "temporal"), "server", "start-dev",
            "--ip", host or "127.0.0.1", "--port", port, "--ui-port", str(ui_port),
            "--http-port", http_port,
            "--db-filename", str(data / "temporal.db"), "--namespace", s.temporal_namespace,
            "--log-level", "warn", *cli_flags(), *ui_flags(s),
        ], env)
        wait_http(s.temporal_ui_url, stack)
        stack.start("worker", [sys.executable, "worker.py"], env)
        stack.start("api", [
            sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory",
            "--host", s.api_host, "--port", str(s.api_port), "--log-level", "warning",
        ], env)
        api = f"http://{s.api_host}:{s.api_port}"
        wait_http(f"{api}/health", stack)
        subprocess.run([sys.executable, "-m", "api.load_connections", str(CONNECTIONS)], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "-m", "api.load_templates", "templates"], cwd=ROOT, env=env, check=True)
        codec = (f"  payloads     encrypted; codec server {api}/codec (docs/operations.md)\n"
                 if codec_on(s) else "")
        metrics = f"http://{s.worker_metrics_host}:{s.worker_metrics_port}/metrics"
        log.info("relayflow is up:\n  API docs     %s/docs\n  Web inbox    %s/ui (sign in with a token)\n"
                 "  Temporal UI  %s\n  metrics      %s/metrics (API), %s (worker)\n"
                 "  directory    %s (tokens for curl/CLI/web inbox)\n  egress       actions may reach %s "
                 "(EGRESS_ALLOW) and their connections\n%s  Ctrl-C stops everything",
                 api, api, s.temporal_ui_url, api, metrics, env["DIRECTORY_FILE"],
                 env["EGRESS_ALLOW"], codec)
        while not (problem := stack.failed()):
            time.sleep(0.5)
        log.error("%s; stopping", problem)
        return 1
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as err:
        log.error("could not start: %s", err)
        return 1
    finally:
        stack.stop()
        log.info("stopped%s", " on request" if stopping else "")


if __name__ == "__main__":
    sys.exit(main())
