"""Testing templates and actions without side effects (SPEC §13).

- `worker`: the API's in-process worker on the test task queue (test runs, action tests);
- `plan`: the body of `POST /templates/{name}/test`, checked against the template and
  turned into the engine's `TestPlan` (422 before anything runs);
- `runner`: starts a test run of the real `TemplateWorkflow`, waits, collects the result;
- `actions`: the action catalogue (`GET /actions`) and one-off action calls.
"""
