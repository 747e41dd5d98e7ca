"""The template registry: save (JSON or YAML), validate, read, versions, graph."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse

from api.auth import DESIGNER_ROLES, require_any_role
from api.deps import CurrentUser, SessionDep, SettingsDep
from api.errors import Invalid, error_responses
from api.models import TemplateVersion
from api.schemas import (
    SavedTemplate,
    TemplateDetail,
    TemplateGraph,
    TemplateInfo,
    ValidationReport,
)
from api.services import registry
from settings import Settings
from workflows._validate_limits import TemplateLimits
from workflows.model import Template

router = APIRouter(prefix="/templates", tags=["templates"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A template document (SPEC §2), as JSON or as YAML with `Content-Type: application/yaml`.",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}
VersionQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


def _info(row: TemplateVersion) -> TemplateInfo:
    return TemplateInfo(
        name=row.name,
        version=row.version,
        description=row.body.get("description"),
        created_at=row.created_at,
        created_by=row.created_by,
    )


async def _document(request: Request) -> dict[str, Any]:
    return await registry.read_document(await request.body(), request.headers.get("content-type"))


def _limits(settings: Settings) -> TemplateLimits:
    return TemplateLimits(
        max_steps=settings.template_max_steps, max_edges=settings.template_max_edges
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_BODY,
    responses=error_responses(401, 403, 413, 415, 422),
)
async def save_template(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> SavedTemplate:
    """Save a new version of a template (versions are immutable, numbered 1, 2, …)."""
    require_any_role(user, DESIGNER_ROLES, "saving templates")
    doc = await _document(request)
    template = await registry.validate(session, doc, _limits(settings))
    row = await registry.save(session, doc, template, user.id)
    return SavedTemplate(name=row.name, version=row.version)


@router.post("/validate", openapi_extra=_BODY, responses=error_responses(401, 413, 415, 422))
async def validate_template(
    request: Request, session: SessionDep, settings: SettingsDep, _: CurrentUser
) -> ValidationReport:
    """Check a template without saving: 200 `{valid: true, findings: []}` or the 422 of a save."""
    await registry.validate(session, await _document(request), _limits(settings))
    return ValidationReport(valid=True, findings=[])


@router.get("", responses=error_responses(401))
async def list_templates(session: SessionDep, _: CurrentUser) -> list[TemplateInfo]:
    """The latest version of every template, by name."""
    return [_info(r) for r in await registry.latest_versions(session)]


@router.get("/{name}", responses=error_responses(401, 404, 422))
async def get_template(
    name: str, session: SessionDep, _: CurrentUser, version: VersionQuery = None
) -> TemplateDetail:
    """One version (default: the latest) with its document."""
    row = await registry.get(session, name, version)
    return TemplateDetail(**_info(row).model_dump(), body=row.body)


@router.get("/{name}/versions", responses=error_responses(401, 404))
async def list_versions(name: str, session: SessionDep, _: CurrentUser) -> list[TemplateInfo]:
    """Every version of a template, oldest first."""
    return [_info(r) for r in await registry.versions(session, name)]


_GRAPH_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(401, 404, 422)
_GRAPH_RESPONSES[200] = {
    "description": "JSON `{name, version, mermaid}`; with `Accept: text/plain`, the Mermaid text",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


@router.get("/{name}/graph", responses=_GRAPH_RESPONSES, response_model=TemplateGraph)
async def template_graph(
    name: str, request: Request, session: SessionDep, _: CurrentUser, version: VersionQuery = None
) -> TemplateGraph | PlainTextResponse:
    """The step DAG as a Mermaid flowchart: JSON by default, plain text for `Accept: text/plain`."""
    from workflows.graph import to_mermaid

    row = await registry.get(session, name, version)
    try:
        template = Template.model_validate(row.body)
    except ValueError as e:  # stored versions were validated; defensive
        raise Invalid(f"stored template cannot be read: {e}") from None
    mermaid = to_mermaid(template)
    accept = request.headers.get("accept", "")
    if "text/plain" in accept and "application/json" not in accept:
        return PlainTextResponse(mermaid)
    return TemplateGraph(name=row.name, version=row.version, mermaid=mermaid)
