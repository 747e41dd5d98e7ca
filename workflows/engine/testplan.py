"""The plan of a template test (SPEC §13): what answers the steps of a test run.

A test run is a normal `TemplateWorkflow` execution whose `RunInput.test` holds a
`TestPlan`; normal runs have `test = None` and never look at anything here. The API
builds the plan from `POST /templates/{name}/test` (answers always as lists) after
checking it against the template; `workflows.engine.testmode` applies it in the run.

Keys name steps in one of three ways, tried in this order for a step at address
`review[1].approve`: the exact address, the address without indexes
(`review.approve`), the step id (`approve`). Lists are consumed in order by the steps
that match the same key (a loop's rounds, a foreach's items); a mock list's last
answer repeats, a decision list that ran out means nobody decides.

Pure pydantic: it crosses the data converter and is passed through the sandbox.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_INDEX = re.compile(r"\[\d+\]")

#: the actor of scripted decisions unless a decision names one
TEST_ACTOR = "test"


class MockAnswer(BaseModel):
    """What a mocked step returns: its `output`, or (with `error`) a failure with that message.

    A mocked error is the step's final failure, after the retries a real run would
    make: `attempts` is the retry policy's `max_attempts`, or 1 when the error is not
    `retryable` or its `type` is one of the step's `retry.non_retryable`."""

    model_config = ConfigDict(extra="forbid")

    output: Any = None
    error: str | None = None
    type: str | None = None
    retryable: bool = True


class ScriptedDecision(BaseModel):
    """One decision of an approval step (or `resume` for a gate that pauses)."""

    model_config = ConfigDict(extra="forbid")

    outcome: str
    actor: str = TEST_ACTOR
    comment: str | None = None
    data: dict[str, Any] | None = None


class TestPlan(BaseModel):
    """Mocks, scripted decisions and the steps allowed to run for real."""

    __test__ = False  # not a pytest test class

    model_config = ConfigDict(extra="forbid")

    mocks: dict[str, list[MockAnswer]] = Field(default_factory=dict)
    #: `None` in a list: nobody decides that round (SLA levels and the timeout apply)
    decisions: dict[str, list[ScriptedDecision | None]] = Field(default_factory=dict)
    allow_real: list[str] = Field(default_factory=list)
    #: where `allow_real` actions run: the real workers' task queue (secrets live there)
    real_task_queue: str | None = None

    def real(self, address: str) -> bool:
        """May the action at `address` call its activity?"""
        return any(k in self.allow_real for k in keys(address))

    def mock_key(self, address: str) -> str | None:
        return next((k for k in keys(address) if k in self.mocks), None)

    def decision_key(self, address: str) -> str | None:
        return next((k for k in keys(address) if k in self.decisions), None)


def keys(address: str) -> list[str]:
    """The keys that may name the step at `address`, most specific first."""
    plain = _INDEX.sub("", address)
    found = [address, plain, plain.rsplit(".", 1)[-1]]
    return list(dict.fromkeys(found))
