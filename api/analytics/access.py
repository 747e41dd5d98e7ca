"""Which runs a caller may read: the ONE place run-read restrictions plug into analytics.

Today any authenticated user may read every run (SPEC §7), so both functions allow
everything. A read policy (e.g. "only runs you started or are assigned to") changes
these two functions and nothing else:

- `readable_runs(user)`: an SQL condition on `AnalyticsRun` (None = all runs) that every
  analytics report applies (steps, decisions and SLA rows are joined to their run);
- `visible_runs(user)`: the same as a Temporal visibility query fragment (None = all),
  ANDed into the open-run counts of the reports;
- `check_run(user, run_id, started_by)`: raise `Forbidden` when `user` may not read that
  run (used by the audit trail).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

from activities.directory import User


def readable_runs(user: User) -> ColumnElement[bool] | None:
    return None


def visible_runs(user: User) -> str | None:
    return None


def check_run(user: User, run_id: str, started_by: str | None) -> None:
    return None
