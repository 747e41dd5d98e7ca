"""Stand-in HTTP services for trying the built-in templates locally (the tutorial's ERP).

    python scripts/demo_services.py [--port 8765]

The run inputs in `templates/examples/*.json` all point at http://127.0.0.1:8765:

`GET  /erp/budget/<cost_center>` -> `{cost_center, remaining}`
`POST /erp/orders` (the run input as JSON) -> 201 `{order_id, status, po, amount}`
anything else: GET -> `{ok, path}`, POST/PUT/PATCH -> `{ok, id, path, received}`
(a catch-all for the other templates' endpoints: Slack-style hooks, HR/IT systems).

Standard library only; every request is logged to stdout so you can watch the
worker call it. Not for production, obviously.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_IDS = itertools.count(1)


class Demo(BaseHTTPRequestHandler):
    server_version = "relayflow-demo/1"

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["erp", "budget"]:
            self._send(200, {"cost_center": parts[2], "remaining": 250000})
        else:
            self._send(200, {"ok": True, "path": self.path})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if self.path.rstrip("/") == "/erp/orders" and isinstance(body, dict):
            po = body.get("po", "unknown")
            self._send(201, {"order_id": f"ORD-{po}", "status": "placed", "po": po, "amount": body.get("amount")})
            return
        self._send(200, {"ok": True, "id": f"demo-{next(_IDS)}", "path": self.path, "received": body})

    do_PUT = do_PATCH = do_POST  # noqa: N815

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stdout.write(f"demo: {fmt % args}\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Demo)
    sys.stdout.write(f"demo services on http://{args.host}:{server.server_address[1]} (Ctrl-C stops)\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
