"""The template language as the API uses it: validation against the registered actions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from activities.registry import action_models
from workflows.language.checker import ActionModels
from workflows.language.model import Template
from workflows.language.validate import Resolver, ValidationResult
from workflows.language.validate import validate_template as _validate


def validate_template(
    doc: Mapping[str, Any] | Template,
    *,
    actions: ActionModels | None = None,
    resolve_template: Resolver | None = None,
    connection_exists: Callable[[str], bool] | None = None,
) -> ValidationResult:
    """`workflows.language.validate.validate_template`; by default with the worker's actions."""
    catalogue = action_models() if actions is None else actions
    return _validate(
        doc,
        actions=catalogue,
        resolve_template=resolve_template,
        connection_exists=connection_exists,
    )
