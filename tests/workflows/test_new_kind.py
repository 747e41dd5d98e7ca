"""A step kind added from one module goes through validate → graph → compile → run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter

from tests.helpers.language import validate_template
from tests.helpers.temporal import new_worker
from tests.workflows import toy_kind
from workflows.engine.io import RunInput
from workflows.language import kinds
from workflows.language.compiler import compile_template
from workflows.language.graph import to_mermaid

DOC: dict[str, Any] = {
    "name": "toy",
    "steps": [
        {"id": "greet", "action": "log", "with": {"message": "hello"}},
        {"id": "loud", "depends_on": ["greet"], "shout": {"text": "hi ${{ input.who }}"}},
        {
            "id": "each",
            "depends_on": ["loud"],
            "foreach": {
                "items": "input.names",
                "steps": [{"id": "call", "shout": {"text": "${{ item }}!"}}],
            },
        },
    ],
    "outputs": {"loud": "${{ steps.loud.output.text }}", "each": "${{ steps.each.output }}"},
}


@pytest.fixture
def shout_kind() -> Iterator[None]:
    kinds.register(toy_kind.KIND)
    yield
    kinds.unregister("shout")


def test_unregistered_kind_is_refused() -> None:
    found = validate_template(DOC).findings
    assert any(f.loc == "steps[1]" and "found none" in f.msg for f in found), found


def test_validate_and_graph(shout_kind: None) -> None:
    result = validate_template(DOC)
    assert result.ok, result.findings
    def one_step(shout: dict[str, Any]) -> list[tuple[str, str]]:
        doc = {"name": "toy", "steps": [{"id": "x", "shout": shout}]}
        return [(f.loc, f.msg) for f in validate_template(doc).findings]

    assert one_step({"text": "hi", "volume": 11})[0][0] == "steps[0].shout.volume"
    assert one_step({"text": " "}) == [("steps[0].shout.text", "shout needs something to say")]
    assert "no step 'nope'" in one_step({"text": "${{ steps.nope.output }}"})[0][1]
    assert result.template is not None
    mermaid = to_mermaid(result.template)
    assert 's_loud>"loud<br/>shout: hi ${{ input.who }}"]' in mermaid, mermaid
    assert 's_each__call>"call<br/>shout: ${{ item }}!"]' in mermaid, mermaid


async def test_compile_and_run_on_the_dev_server(shout_kind: None, client: Client) -> None:
    result = validate_template(DOC)
    assert result.template is not None
    plan = compile_template(result.template, 1)
    # a fresh converter: type adapters cached before the kind registered know no `shout`
    fresh = DataConverter(payload_converter_class=PydanticPayloadConverter)
    toy_client = Client(**{**client.config(), "data_converter": fresh})
    async with new_worker(toy_client) as w:
        handle = await toy_client.start_workflow(
            "TemplateWorkflow",
            RunInput(plan=plan, input={"who": "ann", "names": ["a", "b"]}),
            id=f"toy-{uuid.uuid4()}",
            task_queue=w.task_queue,
        )
        out = await handle.result()
    assert out == {"loud": "HI ANN", "each": [{"call": {"text": "A!"}}, {"call": {"text": "B!"}}]}
