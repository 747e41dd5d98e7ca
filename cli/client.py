"""A small synchronous client for relayflow's HTTP API (SPEC §5), built on httpx.

Every failure — an error status from the API or no API at all — becomes one
`ApiError` carrying the API's `{error, detail, errors}` body, so the CLI has a
single place that turns problems into messages and exit codes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_API = "http://127.0.0.1:8000"


@dataclass
class ApiError(Exception):
    """An API error body (`error`, `detail`, `errors`) plus the HTTP status (None: no answer)."""

    error: str
    detail: str
    status: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.status} " if self.status else ""
        return f"{where}{self.error}: {self.detail}"


def _seg(value: str) -> str:
    """One URL path segment (run ids may contain dots; steps may contain `[0].`)."""
    return quote(value, safe="")


class ApiClient:
    """Thin wrapper over the endpoints the CLI uses; returns decoded JSON bodies."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("RELAYFLOW_API") or DEFAULT_API).rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "relayflow-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; the decoded JSON body (None when empty) or an ApiError."""
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ApiError(
                "unreachable",
                f"API not reachable at {self.base_url}; is `make run` running? "
                "(set RELAYFLOW_API or --api to point elsewhere)",
            ) from None
        except httpx.TimeoutException:
            raise ApiError("timeout", f"no answer from {self.base_url} in time") from None
        except httpx.HTTPError as e:
            raise ApiError("http_error", f"{type(e).__name__}: {e}") from None
        if resp.status_code >= 400:
            raise self._error(resp)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text

    @staticmethod
    def _error(resp: httpx.Response) -> ApiError:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            return ApiError(
                str(body.get("error")),
                str(body.get("detail") or ""),
                resp.status_code,
                list(body.get("errors") or []),
            )
        text = resp.text.strip()[:200] or resp.reason_phrase
        return ApiError(f"http_{resp.status_code}", text, resp.status_code)

    # -- endpoints ----------------------------------------------------------------------

    def health(self) -> Any:
        return self.request("GET", "/health")

    def save_template(self, text: str, fmt: str) -> dict[str, Any]:
        """POST the document as written (YAML or JSON) so the API sees exactly the file."""
        ctype = "application/json" if fmt == "json" else "application/yaml"
        return self.request(
            "POST", "/templates", content=text.encode(), headers={"Content-Type": ctype}
        )

    def list_templates(self) -> Any:
        return self.request("GET", "/templates")

    def get_template(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/templates/{_seg(name)}")

    def test_template(
        self, name: str, body: dict[str, Any], version: int | None = None
    ) -> dict[str, Any]:
        """`POST /templates/{name}/test` (a test run takes up to a minute)."""
        params = {"version": version} if version is not None else None
        return self.request(
            "POST", f"/templates/{_seg(name)}/test", json=body, params=params, timeout=90.0
        )

    def set_template_owners(self, name: str, users: list[str]) -> dict[str, Any]:
        return self.request("PUT", f"/templates/{_seg(name)}/owners", json={"users": users})

    def start_run(
        self,
        template: str,
        run_input: Any,
        *,
        version: int | None = None,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"template": template, "input": run_input}
        if version is not None:
            body["version"] = version
        if run_id:
            body["run_id"] = run_id
        if tags:
            body["tags"] = tags
        return self.request("POST", "/runs", json=body)

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/runs/{_seg(run_id)}")

    def list_runs(self, **filters: Any) -> Any:
        params = {k: v for k, v in filters.items() if v not in (None, "", [])}
        return self.request("GET", "/runs", params=params)

    def run_action(self, run_id: str, action: str) -> Any:
        """`pause`, `resume` or `cancel`."""
        return self.request("POST", f"/runs/{_seg(run_id)}/{action}")

    def decide(
        self, run_id: str, step: str, outcome: str,
        comment: str | None = None, data: Any = None,
    ) -> Any:
        body: dict[str, Any] = {"outcome": outcome}
        if comment is not None:
            body["comment"] = comment
        if data is not None:
            body["data"] = data
        return self.request(
            "POST", f"/runs/{_seg(run_id)}/steps/{_seg(step)}/decision", json=body
        )

    def redrive(self, run_id: str, version: int | None = None) -> dict[str, Any]:
        body = {"version": version} if version is not None else None
        return self.request("POST", f"/runs/{_seg(run_id)}/redrive", json=body)

    def resolve(
        self, run_id: str, step: str, action: str, with_: Any = None, output: Any = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"action": action}
        for key, value in (("with", with_), ("output", output), ("comment", comment)):
            if value is not None:
                body[key] = value
        return self.request(
            "POST", f"/runs/{_seg(run_id)}/steps/{_seg(step)}/resolve", json=body
        )

    def analytics_templates(self, since: str) -> Any:
        return self.request("GET", "/analytics/templates", params={"since": since})

    def analytics_template(self, name: str, since: str) -> Any:
        return self.request("GET", f"/analytics/templates/{_seg(name)}", params={"since": since})

    def audit(self, run_id: str, *, csv: bool = False) -> Any:
        """The run's audit trail: JSON body, or the CSV text with `csv=True`."""
        params = {"format": "csv"} if csv else None
        return self.request("GET", f"/runs/{_seg(run_id)}/audit", params=params)

    def reassign(
        self, run_id: str, step: str, users: list[str] | None = None, roles: list[str] | None = None
    ) -> Any:
        body = {"users": users or [], "roles": roles or []}
        return self.request(
            "POST", f"/runs/{_seg(run_id)}/steps/{_seg(step)}/reassign", json=body
        )

    def inbox(self) -> Any:
        return self.request("GET", "/inbox")

    def list_schedules(self) -> Any:
        return self.request("GET", "/schedules")

    def create_schedule(self, body: dict[str, Any]) -> Any:
        return self.request("POST", "/schedules", json=body)

    def delete_schedule(self, schedule_id: str) -> Any:
        return self.request("DELETE", f"/schedules/{_seg(schedule_id)}")


def items(body: Any, *keys: str) -> list[Any]:
    """The list inside a listing response, whether bare or wrapped (`{runs: [...]}`)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in (*keys, "items", "data", "results"):
            if isinstance(body.get(key), list):
                return list(body[key])
    return []
