"""The errors of `workflows.expressions`, in a module with no imports and no state.

The worker lists `BudgetExceeded` in `workflow_failure_exception_types`; the
Temporal sandbox re-imports that module for every workflow, which must succeed
even where the expression engine itself is not imported.
"""

from __future__ import annotations


class ExpressionError(ValueError):
    """An expression that does not compile, names something unknown, or fails at run time."""

    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        self.detail = detail
        shown = source if len(source) <= 200 else source[:197] + "..."
        super().__init__(f"expression `{shown}`: {detail}")

    def __reduce__(self) -> tuple[type[ExpressionError], tuple[str, str]]:
        return (type(self), (self.source, self.detail))


class BudgetExceeded(ExpressionError):
    """An evaluation exceeded a budget (value size, CPU, elements; see `workflows.language.cel_budget`).

    It fails the step like any expression error; the worker also lists it in
    `workflow_failure_exception_types`, so where one escapes a step it fails the run
    instead of retrying the workflow task forever."""


__all__ = ["BudgetExceeded", "ExpressionError"]
