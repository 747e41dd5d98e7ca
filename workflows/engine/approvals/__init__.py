"""Human approvals inside the engine: the book of open tasks (`book`), the run's approval
state and its Temporal calls (`state`), the payloads of the approval activities (`io`),
the waiting machinery of an approval step (`step`) and the decide/reassign handlers
(`handlers`). The `approval` kind (workflows/kinds/approval.py) runs on these."""
