"""Property (issue 20): random nested JSON/YAML — lone surrogates, NaN/Infinity, deep nesting,
odd YAML tags — sent to the doors that take documents. No answer is a 5xx, and nothing
that is accepted fails to read back (the template from the registry, the run's input
by the worker)."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.worker import Worker

from tests.api.conftest import auth, eventually, save, simple_template, unique
from tests.api.test_schedules_triggers import signed

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
HOOK_SOURCE = "acme"

# text with lone surrogates and other awkward characters
plain = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, categories=["L", "N", "P", "Zs", "Cc"]),
        st.sampled_from(["\x00", "\u2028", "'", '"', "\\"]),
    ),
    max_size=12,
)
# hypothesis never puts surrogates into text(): add lone ones by hand
text = st.one_of(
    plain,
    st.tuples(plain, st.sampled_from(["\ud800", "\udfff", "\udc00x"])).map("".join),
    st.sampled_from(["${{ input }}", "${{", "}}", "${{ 1/0 }}"]),
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)
    ),
    max_leaves=20,
)


def nest(v: Any, levels: int) -> Any:
    for _ in range(levels):
        v = {"n": v}
    return v


#: a value, sometimes buried deep (past the limits: 32 for input, 64 for documents)
deep_value = st.tuples(value, st.sampled_from([0, 0, 0, 20, 33, 70, 300])).map(lambda t: nest(*t))


def dumps(v: Any) -> str:
    """JSON text as a careless client writes it: NaN/Infinity literals, `\\udXXX` escapes."""
    return json.dumps(v, allow_nan=True, ensure_ascii=True)


TAGS = ["!!binary aGk=", "!!set {a, b}", "!!omap [{a: 1}]", "!!python/tuple [1]", "!foo x",
        "!!float .nan", "!!float -.inf", "1e999", '"\\ud800"', "!!str 1", "!!int 7",
        "!!timestamp 2024-01-01", "&a [*a]", "*nope", "? [a, b]\n  : 1", "{? {x: 1} : 2}"]
yaml_doc = st.tuples(st.sampled_from(TAGS), st.sampled_from(["description", "outputs", "x"])).map(
    lambda t: f"name: {unique('p')}\n{t[1]}: {t[0]}\nsteps:\n  - id: a\n    action: log\n"
    "    with: {message: hi}\n"
)

PROPS = settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def no_5xx(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        body = r.json()
        assert {"error", "detail"} <= set(body), body


async def template_reads_back(api: httpx.AsyncClient, r: httpx.Response) -> None:
    if r.status_code != 201:
        return
    name = r.json()["name"]
    got = await api.get(f"/templates/{name}", headers=auth("eve"))
    assert got.status_code == 200, got.text
    assert (await api.get("/templates", headers=auth("eve"))).status_code == 200
    assert (await api.get(f"/templates/{name}/graph", headers=auth("eve"))).status_code == 200


@pytest.fixture(scope="module")
async def target(api: httpx.AsyncClient, worker: Worker) -> AsyncIterator[str]:
    name = unique("prop")
    await save(api, simple_template(name))
    rule = {"id": unique("prop"), "source": HOOK_SOURCE, "template": name,
            "input": {"who": "${{ body }}"}}
    assert (await api.post("/triggers", json=rule, headers=auth("dana"))).status_code == 201
    yield name
    await api.delete(f"/triggers/{rule['id']}", headers=auth("dana"))


@PROPS
@given(description=deep_value, extra=deep_value)
async def test_templates_json(api: httpx.AsyncClient, description: Any, extra: Any) -> None:
    doc = simple_template(unique("p"), description=description)
    doc["steps"][0]["with"]["message"] = extra
    raw = dumps(doc)
    for path in ("/templates/validate", "/templates"):
        r = await api.post(path, content=raw, headers=auth("dana") | JSON)
        no_5xx(r)
    await template_reads_back(api, r)


@PROPS
@given(doc=yaml_doc)
async def test_templates_yaml(api: httpx.AsyncClient, doc: str) -> None:
    for path in ("/templates/validate", "/templates"):
        r = await api.post(path, content=doc, headers=auth("dana") | YAML)
        no_5xx(r)
    await template_reads_back(api, r)


@PROPS
@given(data=deep_value)
async def test_runs(api: httpx.AsyncClient, target: str, data: Any) -> None:
    raw = f'{{"template": "{target}", "input": {dumps({"who": data})}}}'
    r = await api.post("/runs", content=raw, headers=auth("eve") | JSON)
    no_5xx(r)
    if r.status_code != 201:
        return
    run_id = r.json()["run_id"]

    async def worker_read_it() -> Any:  # the status query is answered by a worker
        got = await api.get(f"/runs/{run_id}", headers=auth("eve"))
        assert got.status_code == 200, got.text
        return got.json()["steps"]

    assert await eventually(worker_read_it, timeout=20)


@PROPS
@given(data=deep_value)
async def test_hooks(api: httpx.AsyncClient, target: str, data: Any) -> None:
    raw = dumps({"payload": data, "nonce": unique("n")}).encode()
    r = await api.post(f"/hooks/{HOOK_SOURCE}", content=raw, headers=signed(raw))
    no_5xx(r)


def test_strategies_reach_the_edges() -> None:
    """The generators above do produce what the property is about."""
    found = {"surrogate": False, "nan": False, "deep": False}

    def walk(v: Any, depth: int = 0) -> None:
        if isinstance(v, str) and any("\ud800" <= c <= "\udfff" for c in v):
            found["surrogate"] = True
        if isinstance(v, float) and not math.isfinite(v):
            found["nan"] = True
        if depth > 64:
            found["deep"] = True
        if isinstance(v, dict):
            for x in v.values():
                walk(x, depth + 1)
        elif isinstance(v, list):
            for x in v:
                walk(x, depth + 1)

    @settings(max_examples=300, database=None, derandomize=True)
    @given(deep_value)
    def sample(v: Any) -> None:
        walk(v)

    sample()
    assert all(found.values()), found
