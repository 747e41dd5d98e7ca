"""A workflow that evaluates an expression outside any step (for the budget tests).

Its own small module: the sandbox re-imports a workflow's module for every run, and
relayflow's modules are passed through (as in `workflows/engine/workflow.py`).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.language.expressions as expressions


@workflow.defn(sandboxed=True)
class EscapingBudget:
    """Evaluates outside any step: nothing turns the error into a step failure."""

    @workflow.run
    async def run(self, text: str) -> object:
        return expressions.evaluate("input.replace('', 'x')", {"input": text})
