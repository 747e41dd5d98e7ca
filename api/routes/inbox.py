"""The caller's inbox: open approvals assigned to them or to one of their roles."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SettingsDep, TemporalDep
from api.errors import error_responses
from api.schemas import InboxEntry
from api.services import listing, starting

router = APIRouter(tags=["runs"])


@router.get("/inbox", responses=error_responses(401, 503))
async def inbox(client: TemporalDep, settings: SettingsDep, user: CurrentUser) -> list[InboxEntry]:
    """Running runs with an approval assigned to the caller, with those pending tasks
    (503 when Temporal or the workers do not answer within `TEMPORAL_RPC_TIMEOUT`)."""
    items = await listing.inbox(client, user, seconds=settings.temporal_rpc_timeout)
    return [
        InboxEntry(
            run_id=i.run_id,
            template=i.template,
            version=i.version,
            pending=i.pending,
            ui_url=starting.ui_url(settings, client.namespace, i.run_id),
        )
        for i in items
    ]
