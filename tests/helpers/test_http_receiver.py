"""The shared HTTP receiver itself: recording, scripts, callbacks, per-key counts, stop."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.http_receiver import HttpReceiver, Reply, Request


def test_records_requests_and_echoes_by_default() -> None:
    with HttpReceiver() as rx:
        r = httpx.post(
            f"{rx.url}/a?x=1", json={"n": 1}, headers={"Idempotency-Key": "k1"}, timeout=5
        )
        assert r.status_code == 200
        assert r.json()["path"] == "/a?x=1" and r.json()["body"] == '{"n":1}'
        httpx.get(f"{rx.url}/a", headers={"idempotency-key": "k1"}, timeout=5)
        httpx.delete(f"{rx.url}/b", timeout=5)
        first, second = rx.at("/a")
        assert (first.method, first.path, first.query, first.target) == ("POST", "/a", "x=1", "/a?x=1")
        assert first.body == b'{"n":1}' and first.json == {"n": 1}
        assert second.json is None and second.query == "" and second.target == "/a"
        assert rx.hits == {"/a": 2, "/b": 1}
        assert rx.idempotency_keys == {"k1": 2}


def test_script_sequence_last_repeats_and_callbacks() -> None:
    def order(req: Request) -> Reply:
        return Reply(201, {"order_id": f"ORD-{req.json['po']}"}, {"X-Erp": "yes"})

    with HttpReceiver(default=Reply(404, b"")) as rx:
        url = rx.script("/s", Reply(503, "busy", {"Retry-After": "1"}), Reply(200, "ok"))
        got = [httpx.get(url, timeout=5) for _ in range(3)]
        assert [r.status_code for r in got] == [503, 200, 200]
        assert got[0].headers["Retry-After"] == "1" and got[2].text == "ok"
        assert got[1].headers["Content-Type"] == "text/plain; charset=utf-8"
        r = httpx.post(rx.script("/orders", order), json={"po": "P1"}, timeout=5)
        assert (r.status_code, r.json(), r.headers["X-Erp"]) == (201, {"order_id": "ORD-P1"}, "yes")
        assert httpx.get(f"{rx.url}/other", timeout=5).status_code == 404
        ctype = Reply(200, "ok", {"Content-Type": "text/plain"})
        r = httpx.get(rx.script("/t", ctype), timeout=5)
        assert r.headers.get_list("Content-Type") == ["text/plain"]


def test_delay_and_stop() -> None:
    rx = HttpReceiver().start()
    url = rx.script("/slow", Reply(200, "late", delay=1.0))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url, timeout=0.2)
    assert len(rx.at("/slow")) == 1  # recorded on arrival, before the delay
    rx.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=1)
