"""Analytics and audit over runs: an ingester that reads closed runs from Temporal into
the registry database, the reports of `GET /analytics/*`, and the audit trail of a run.

- `history`: a run's history chain (across continue-as-new) decoded into facts;
- `replay`: the run's final state by replaying its history in this process;
- `record`: facts + final state -> the rows of one run; `tables`: where they go;
- `store`: idempotent writes and the watermark; `ingest`: the background poller;
- `report`: the aggregates; `audit`: the time-ordered events of one run;
- `access`: the one place where "runs this caller may read" plugs in.
"""
