"""Open runs per template from Temporal visibility (the store holds closed runs only)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from temporalio.client import Client

from api.analytics.ingest import rfc3339
from workflows.engine import search_attributes as sa
from workflows.engine.io import WORKFLOW_TYPE

#: open runs counted at most (a report must answer quickly even with a huge backlog)
MAX_OPEN = 50_000


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def open_runs(
    client: Client, since: datetime, template: str | None = None, extra: str | None = None
) -> dict[str, int]:
    """Template -> runs started since `since` that are still open."""
    query = (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"
        f" AND StartTime >= '{rfc3339(since)}'"
    )
    if template is not None:
        query += f" AND {sa.TEMPLATE_NAME.name} = {_quote(template)}"
        if extra:
            query += f" AND ({extra})"
        count = await client.count_workflows(query)
        return {template: count.count} if count.count else {}
    if extra:
        query += f" AND ({extra})"
    counts: Counter[str] = Counter()
    seen = 0
    async for wf in client.list_workflows(query, page_size=1000):
        name = wf.typed_search_attributes.get(sa.TEMPLATE_NAME)
        if name:
            counts[name] += 1
        seen += 1
        if seen >= MAX_OPEN:
            break
    return dict(counts)
