"""`relayflow`: validate and draw templates offline, push them, start and watch runs, decide.

The entry point (`[project.scripts] relayflow = "cli.main:app"`). The commands live in
`cli.cmd_*` modules and register themselves on the app from `cli.app` when imported;
they are thin: offline ones call `cli.offline`, online ones call the HTTP API through
`cli.client.ApiClient` and draw with `cli.render`. Exit codes (`cli.app.EXIT_CODES`)
are part of the interface.
"""

from __future__ import annotations

from cli import (  # noqa: F401 - registers the commands
    cmd_cases,
    cmd_connections,
    cmd_recovery,
    cmd_runs,
    cmd_schedules,
    cmd_stats,
    cmd_subscriptions,
    cmd_templates,
)
from cli.app import API_ERROR, EXIT_CODES, FAILED, OK, USAGE, app

__all__ = ["API_ERROR", "EXIT_CODES", "FAILED", "OK", "USAGE", "app"]

if __name__ == "__main__":
    app()
