"""Record histories of the built-in templates: `python -m tests.histories.record_templates`.

Each `templates/<name>.yaml` runs with `templates/examples/<name>.json` as input, the
demo connections and secrets (`deploy/connections.yaml`, `http://127.0.0.1:8765`)
pointed at a local catch-all receiver, on a fresh dev
server with the real actions (`activities.registry.all_activities()`), a local SMTP
sink for `email`, and open approvals decided by an admin `decide` update (first
outcome). Writes `tests/histories/template_<name>.json`; `test_replay.py` replays them.
Templates that cannot finish here (e.g. approvals not wired yet) are reported and skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

from temporalio.client import Client

from tests.helpers.connections import demo_connections, demo_secrets
from tests.helpers.http_receiver import HttpReceiver, Reply

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE.parents[1] / "templates"
BODY = {  # every request gets this one JSON reply: it has each field some template reads
    "text": "Durable workflows, explained in one post.",
    "score": 0.93,
    "id": "p-1",
    "url": "http://127.0.0.1/p/1",
    "campaign_id": "c-1",
    "order_id": "o-1",
    "status": "ok",
    "additions": 12,
    "deletions": 3,
    "remaining": 250000,
}


async def _decide_open_tasks(client: Client, run_id: str, done: asyncio.Event) -> None:
    from workflows.engine.workflow import TemplateWorkflow

    decided: set[str] = set()
    while not done.is_set():
        try:
            st = await client.get_workflow_handle(run_id).query(TemplateWorkflow.status)
        except Exception:  # noqa: BLE001 - not queryable yet
            st = None
        for task in st.pending if st else []:
            if task.step not in decided and task.outcomes:
                decided.add(task.step)
                payload = {
                    "step": task.step,
                    "outcome": task.outcomes[0],
                    "actor": "admin",
                    "as_admin": True,
                    "comment": "recorded",
                }
                try:  # the API's way: the `decide` update, as an admin
                    await client.get_workflow_handle(run_id).execute_update("decide", payload)
                except Exception as e:  # noqa: BLE001 - report and keep going
                    print(f"decide {task.step} refused: {e}")
        await asyncio.sleep(0.2)


async def record(client: Client, names: list[str], base: str) -> None:
    from temporalio.worker import Worker

    import worker as relayflow_worker
    from workflows.engine.io import RunInput
    from workflows.engine.workflow import TemplateWorkflow
    from workflows.language.compiler import compile_template
    from workflows.language.loader import load_document
    from workflows.language.model import Template

    async with Worker(
        client,
        task_queue="record-templates",
        workflows=[TemplateWorkflow],
        activities=relayflow_worker.activities(),
        interceptors=relayflow_worker.interceptors(),
    ):
        for name in names:
            doc = load_document((TEMPLATES / f"{name}.yaml").read_text())
            example = (TEMPLATES / "examples" / f"{name}.json").read_text()
            inp = json.loads(example)
            plan = compile_template(Template.model_validate(doc), 1)
            run_id = f"rec-template_{name}"
            h = await client.start_workflow(
                TemplateWorkflow.run,
                RunInput(plan=plan, input=inp, connections=demo_connections(base)),
                id=run_id,
                task_queue="record-templates",
            )
            done = asyncio.Event()
            decider = asyncio.create_task(_decide_open_tasks(client, run_id, done))
            try:
                await asyncio.wait_for(h.result(), 30)
                outcome = "completed"
            except TimeoutError:
                await h.terminate("recorder timeout")
                print(f"skipped {name}: did not finish in 30 s")
                continue
            except Exception as e:  # noqa: BLE001 - failed runs are valid histories too
                outcome = f"failed: {getattr(e, 'cause', e)}"
            finally:
                done.set()
                await decider
            history = await h.fetch_history()
            (HERE / f"template_{name}.json").write_text(history.to_json())
            print(f"recorded template_{name}: {len(history.events)} events ({outcome})")


async def main(argv: list[str]) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from settings import get_settings
    from tests.helpers.temporal import start_dev_server

    http = HttpReceiver(default=Reply(body=BODY)).start()
    os.environ.update(demo_secrets(http.url))
    os.environ["EGRESS_ALLOW"] = "127.0.0.1"  # the receiver (Slack webhooks are secrets)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        smtp_port = s.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    os.environ["SMTP_HOST"], os.environ["SMTP_PORT"] = "127.0.0.1", str(smtp_port)
    get_settings.cache_clear()
    env = await start_dev_server()
    try:
        names = argv or sorted(p.stem for p in TEMPLATES.glob("*.yaml"))
        await record(env.client, names, http.url)
    finally:
        await env.shutdown()
        smtp.stop()
        http.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
