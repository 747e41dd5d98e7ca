"""Run event subscriptions (SPEC §14): operators and admins manage them and read their log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.auth import OPERATOR_ROLES, require_any_role
from api.deps import CurrentUser, SessionDep, SettingsDep
from api.errors import error_responses
from api.services import subscriptions
from api.subscription_schemas import (
    SUBSCRIPTION_ID,
    DeliveryOut,
    SubscriptionIn,
    SubscriptionOut,
    delivery_out,
    out,
)

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])
Id = Annotated[str, Path(pattern=SUBSCRIPTION_ID, max_length=100)]


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 401, 403, 409, 413, 422)
)
async def create_subscription(
    body: SubscriptionIn, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> SubscriptionOut:
    """Subscribe (operator, admin): `{id, events, template?, tags?, target}`. Applies to runs
    started from now on (and their redrives)."""
    require_any_role(user, OPERATOR_ROLES, "managing subscriptions")
    return out(await subscriptions.create(session, settings, body, user.id))


@router.get("", responses=error_responses(401, 403))
async def list_subscriptions(session: SessionDep, user: CurrentUser) -> list[SubscriptionOut]:
    """Every subscription (operator, admin)."""
    require_any_role(user, OPERATOR_ROLES, "reading subscriptions")
    return [out(r) for r in await subscriptions.list_all(session)]


@router.delete(
    "/{sub_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422),
)
async def delete_subscription(sub_id: Id, session: SessionDep, user: CurrentUser) -> Response:
    """Delete a subscription (operator, admin): runs that pinned it stop delivering to it."""
    require_any_role(user, OPERATOR_ROLES, "managing subscriptions")
    await subscriptions.delete(session, sub_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{sub_id}/deliveries", responses=error_responses(401, 403, 404, 422))
async def list_deliveries(sub_id: Id, session: SessionDep, user: CurrentUser) -> list[DeliveryOut]:
    """The last 100 deliveries (operator, admin): event, status, attempts, last error."""
    require_any_role(user, OPERATOR_ROLES, "reading subscriptions")
    return [delivery_out(r) for r in await subscriptions.deliveries(session, sub_id)]
