"""relayflow benchmarks and fault injection (`python -m bench` = `make bench`).

Each module measures one thing against the real pieces (dev server, compiler,
`TemplateWorkflow`, actions registry, API) and returns a dict the report writer
(`bench.report`) turns into `docs/benchmarks.md`:

- `bench.overhead`: the same DAGs as templates and as hand-written workflows
  (`bench.handwritten`), interleaved A/B/A/B: throughput, latency, CPU, history;
- `bench.approvals`: many runs parked on approvals: status latency, decide all;
- `bench.api_overhead`: `POST /runs` against a direct `start_workflow`;
- `bench.faults`: worker SIGKILLs, server and API restarts: nothing lost or repeated;
- `bench.profile`: py-spy on the interpreter's hot path.
"""
