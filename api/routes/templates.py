"""The template registry: save (JSON or YAML), validate, read, versions, graph."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse

from api.auth import ADMIN_ROLES, DESIGNER_ROLES, require_any_role
from api.deps import CurrentUser, DirectoryDep, SessionDep, SettingsDep
from api.errors import error_responses
from api.models import TemplateVersion
from api.schemas import (
    SavedTemplate,
    SetOwners,
    TemplateDetail,
    TemplateGraph,
    TemplateInfo,
    TemplateOwners,
    ValidationReport,
)
from api.services import owners, registry
from settings import Settings
from workflows.language.limits import TemplateLimits

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
    """Save a new version of a template (versions are immutable, numbered 1, 2, …).

    Needs role designer or admin. The first saver of a name becomes its owner; later
    versions only by its owners and admins (403 otherwise)."""
    require_any_role(user, DESIGNER_ROLES, "saving templates")
    doc = await _document(request)
    template = await registry.validate(session, doc, _limits(settings))
    row = await owners.publish(session, doc, template, user)
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
    """One version (default: the latest) with its document and the template's owners."""
    row = await registry.get(session, name, version)
    return TemplateDetail(
        **_info(row).model_dump(), body=row.body, owners=await owners.owners(session, name)
    )


@router.put("/{name}/owners", responses=error_responses(401, 403, 404, 422))
async def set_owners(
    name: str, body: SetOwners, session: SessionDep, user: CurrentUser, directory: DirectoryDep
) -> TemplateOwners:
    """Replace the template's owners (admin only): they, with admins, save new versions and
    read its runs. Users must be in the directory; `[]` leaves the template to admins."""
    require_any_role(user, ADMIN_ROLES, "setting template owners")
    result = await owners.set_owners(session, name, body.users, directory, user.id)
    return TemplateOwners(name=name, owners=result)


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
    from workflows.language.graph import to_mermaid

    row = await registry.get(session, name, version)
    mermaid = to_mermaid(registry.parsed(session, row))
    accept = request.headers.get("accept", "")
    if "text/plain" in accept and "application/json" not in accept:
        return PlainTextResponse(mermaid)
    return TemplateGraph(name=row.name, version=row.version, mermaid=mermaid)
