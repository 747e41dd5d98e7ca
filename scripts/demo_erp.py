"""A stand-in ERP for the purchase-order tutorial: the two endpoints the template calls.

    python scripts/demo_erp.py [--port 8765]

`GET  /erp/budget/<cost_center>` -> `{cost_center, remaining}`
`POST /erp/orders` (the run input as JSON) -> 201 `{order_id, status, po, amount}`

Standard library only; every request is logged to stdout so you can watch the
worker call it. Not for production, obviously.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Erp(BaseHTTPRequestHandler):
    server_version = "demo-erp/1"

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
            self._send(404, {"error": "not_found", "detail": self.path})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") != "/erp/orders":
            self._send(404, {"error": "not_found", "detail": self.path})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            order = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": "bad_json", "detail": "the body is not JSON"})
            return
        po = order.get("po", "unknown")
        self._send(201, {"order_id": f"ORD-{po}", "status": "placed", "po": po, "amount": order.get("amount")})

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stdout.write(f"demo-erp: {fmt % args}\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Erp)
    sys.stdout.write(f"demo ERP on http://{args.host}:{server.server_address[1]}/erp (Ctrl-C stops)\n")
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
