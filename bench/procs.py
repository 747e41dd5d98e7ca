"""Processes the fault-injection runs kill and restart, and the HTTP receiver that counts effects.

- `DevServer`: `temporal server start-dev` with file persistence on free ports, so a
  restart keeps every run (same db file, same port).
- `WorkerProc`: the real `python worker.py` with TEMPORAL_ADDRESS / TASK_QUEUE.
- `ApiProc`: the real API under uvicorn (`api.main:create_app --factory`).
- `Receiver`: a threaded local HTTP server recording every request's
  `Idempotency-Key` and arrival time — the side effects the `http` action causes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import ROOT, free_port
from tests.helpers.temporal import binary
from workflows.engine.search_attributes import cli_flags


def wait_port(port: int, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until 127.0.0.1:`port` accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {timeout:.0f}s")


class Proc:
    """A restartable child process in its own session; output appended to `log`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def start(self) -> None:
        if self.pid is not None:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self, sig: int = signal.SIGKILL, wait: float = 20.0) -> None:
        """Send `sig` to the process group and reap it (SIGKILL after `wait` seconds)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


class DevServer(Proc):
    """`temporal server start-dev` persisting to `db` on a fixed free port."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.http_port = free_port(), free_port()
        argv = [
            binary("temporal"), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port), "--http-port", str(self.http_port),
            "--metrics-port", str(free_port()), "--db-filename", str(workdir / "temporal.db"),
            "--log-level", "error", *cli_flags(),
        ]
        super().__init__("temporal", argv, dict(os.environ), workdir / "temporal.log")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        wait_port(self.port, proc=self.proc)


def relayflow_env(address: str, task_queue: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TEMPORAL_ADDRESS=address, TASK_QUEUE=task_queue, PYTHONUNBUFFERED="1")
    # the benchmarks' receivers listen on 127.0.0.1, which the egress policy refuses by default
    env["EGRESS_ALLOW"] = "127.0.0.1"
    env.update(extra)
    return env


class WorkerProc(Proc):
    def __init__(self, address: str, task_queue: str, workdir: Path, **extra_env: str) -> None:
        extra_env.setdefault("WORKER_METRICS_PORT", str(free_port()))  # never 9464 of `make run`
        env = relayflow_env(address, task_queue, **extra_env)
        super().__init__("worker", [sys.executable, "worker.py"], env, workdir / "worker.log")


class ApiProc(Proc):
    def __init__(self, address: str, task_queue: str, workdir: Path, **extra_env: str) -> None:
        self.port = free_port()
        env = relayflow_env(address, task_queue, **extra_env)
        argv = [
            sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]
        super().__init__("api", argv, env, workdir / "api.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        wait_port(self.port, proc=self.proc)


class Receiver:
    """Counts requests by `Idempotency-Key`; answers 200 `{}` after `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                key = self.headers.get("Idempotency-Key") or "(none)"
                with receiver._lock:
                    receiver.arrivals[key].append(time.time())
                if receiver.delay:
                    time.sleep(receiver.delay)
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a caller killed mid-request (the point of the exercise): not an error

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> dict[str, list[float]]:
        with self._lock:
            return {k: list(v) for k, v in self.arrivals.items()}
