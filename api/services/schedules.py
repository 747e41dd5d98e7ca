"""Temporal Schedules that start runs of a pinned template version (SPEC §5)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict, ErrorItem, Invalid, NotFound, Unavailable
from api.services import starting
from settings import Settings
from workflows.engine.io import WORKFLOW_TYPE
from workflows.language.durations import DurationError, parse_duration

CATCHUP_WINDOW = timedelta(minutes=1)
MEMO_KEY = "relayflow"


@dataclass
class ScheduleRequest:
    id: str
    template: str
    version: int | None
    input: dict[str, Any]
    cron: str | None
    interval: str | None
    timezone: str | None
    paused: bool


@dataclass
class ScheduleSummary:
    id: str
    template: str | None = None
    version: int | None = None
    cron: list[str] = field(default_factory=list)
    interval: list[str] = field(default_factory=list)
    timezone: str | None = None
    paused: bool = False
    next_action_times: list[datetime] = field(default_factory=list)


def _spec(req: ScheduleRequest) -> ScheduleSpec:
    if (req.cron is None) == (req.interval is None):
        raise Invalid(
            "give exactly one of cron and interval",
            [ErrorItem(loc="body.cron", msg="exactly one of cron, interval is required")],
        )
    if req.timezone is not None:
        try:
            zoneinfo.ZoneInfo(req.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise Invalid(
                f"unknown time zone {req.timezone!r}",
                [ErrorItem(loc="body.timezone", msg="not an IANA time zone name")],
            ) from None
    if req.interval is not None:
        try:
            every = parse_duration(req.interval)
        except DurationError as e:
            raise Invalid(f"interval: {e}", [ErrorItem(loc="body.interval", msg=str(e))]) from None
        if every < timedelta(seconds=1):
            raise Invalid(
                "interval must be at least 1s", [ErrorItem(loc="body.interval", msg="too short")]
            )
        return ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=every)], time_zone_name=req.timezone
        )
    assert req.cron is not None
    return ScheduleSpec(cron_expressions=[req.cron], time_zone_name=req.timezone)


async def create(
    session: AsyncSession, client: Client, settings: Settings, req: ScheduleRequest, user: str
) -> ScheduleSummary:
    """Validate the input now, pin the template version current now, create the schedule."""
    spec = _spec(req)
    run = await starting.prepare(
        session, settings, req.template, req.version, req.input, user, {"schedule": req.id}
    )
    action = ScheduleActionStartWorkflow(
        WORKFLOW_TYPE,
        run,
        id=req.id,  # Temporal appends -<timestamp> for each scheduled run
        task_queue=settings.task_queue,
        typed_search_attributes=starting.search_attributes(run),
        static_summary=f"{run.plan.name}@{run.plan.version}",
    )
    memo = {
        "template": run.plan.name,
        "version": run.plan.version,
        "cron": req.cron,
        "interval": req.interval,
        "timezone": req.timezone,
    }
    schedule = Schedule(
        action=action,
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(paused=req.paused, note=f"created by {user}"),
    )
    try:
        handle = await client.create_schedule(req.id, schedule, memo={MEMO_KEY: memo})
        desc = await handle.describe()
    except ScheduleAlreadyRunningError:
        raise Conflict(f"schedule {req.id!r} already exists") from None
    except RPCError as e:
        if e.status == RPCStatusCode.INVALID_ARGUMENT:
            raise Invalid(
                f"Temporal rejected the schedule: {e.message}",
                [ErrorItem(loc="body.cron" if req.cron else "body", msg=e.message)],
            ) from None
        if e.status == RPCStatusCode.ALREADY_EXISTS:
            raise Conflict(f"schedule {req.id!r} already exists") from None
        raise Unavailable(f"Temporal did not create the schedule: {e.message}") from None
    return ScheduleSummary(
        id=req.id,
        template=run.plan.name,
        version=run.plan.version,
        cron=[req.cron] if req.cron else [],
        interval=[req.interval] if req.interval else [],
        timezone=req.timezone,
        paused=req.paused,
        next_action_times=list(desc.info.next_action_times),
    )


async def list_all(client: Client, limit: int = 1000) -> list[ScheduleSummary]:
    """relayflow's schedules (Temporal visibility: a new schedule shows up within seconds)."""
    out: list[ScheduleSummary] = []
    try:
        async for entry in await client.list_schedules(page_size=min(limit, 1000)):
            memo = (await entry.memo()).get(MEMO_KEY)
            if not isinstance(memo, dict):
                continue  # not created through this API
            out.append(
                ScheduleSummary(
                    id=entry.id,
                    template=memo.get("template"),
                    version=memo.get("version"),
                    cron=[memo["cron"]] if memo.get("cron") else [],
                    interval=[memo["interval"]] if memo.get("interval") else [],
                    timezone=memo.get("timezone"),
                    paused=bool(entry.schedule and entry.schedule.state.paused),
                    next_action_times=list(entry.info.next_action_times) if entry.info else [],
                )
            )
            if len(out) >= limit:
                break
    except RPCError as e:
        raise Unavailable(f"Temporal did not list schedules: {e.message}") from None
    return sorted(out, key=lambda s: s.id)


async def delete(client: Client, schedule_id: str) -> None:
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"schedule {schedule_id!r} does not exist") from None
        raise Unavailable(f"Temporal did not delete the schedule: {e.message}") from None
