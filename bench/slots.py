"""The Worker options that bound a worker's concurrency, as a worker process uses them.

`slot_settings()` reports, per option, the SDK's value when it is left unset (read
from the installed temporalio, so an SDK upgrade shows), whether `worker.py` names
the option, and the value of a setting named after it if `settings.Settings` has one.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from temporalio.worker import Worker

from bench.common import ROOT

SLOT_OPTIONS = (
    "max_concurrent_activities",
    "max_concurrent_workflow_tasks",
    "max_cached_workflows",
    "max_concurrent_activity_task_polls",
    "max_concurrent_workflow_task_polls",
    "nonsticky_to_sticky_poll_ratio",
)


def sdk_defaults() -> dict[str, Any]:
    """What the SDK uses when a Worker option in `SLOT_OPTIONS` is left unset."""
    from temporalio.worker import WorkerTuner

    params = inspect.signature(Worker.__init__).parameters
    tuner: Any = WorkerTuner.create_fixed()  # what Worker builds without a tuner or slots
    out = {name: params[name].default for name in SLOT_OPTIONS if name in params}
    try:
        out["max_concurrent_workflow_tasks"] = tuner.workflow_slot_supplier.num_slots
        out["max_concurrent_activities"] = tuner.activity_slot_supplier.num_slots
    except AttributeError:
        pass
    for opt, behaviour in (("max_concurrent_workflow_task_polls", "workflow_task_poller_behavior"),
                           ("max_concurrent_activity_task_polls", "activity_task_poller_behavior")):
        maximum = getattr(params[behaviour].default, "maximum", None) if behaviour in params else None
        if out.get(opt) is None and maximum is not None:
            out[opt] = maximum
    return out


def slot_settings() -> dict[str, Any]:
    """The Worker options that bound a worker's concurrency: the SDK's value when unset,
    whether `worker.py` names the option, and the value of a setting named after it
    (e.g. `worker_max_concurrent_activities`), if `settings.Settings` has one."""
    from settings import get_settings

    defaults = sdk_defaults()
    source = (ROOT / "worker.py").read_text()
    current = get_settings()
    fields = list(type(current).model_fields)
    out = {}
    for name in SLOT_OPTIONS:
        setting = next((f for f in fields if name in f), None)
        out[name] = {
            "sdk_default": defaults.get(name),
            "set_in_worker_py": bool(re.search(rf"\b{name}\b", source)),
            "setting": setting,
            "value": getattr(current, setting) if setting else None,
        }
    return out
