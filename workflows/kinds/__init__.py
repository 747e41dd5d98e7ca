"""The step kinds: `KINDS` is the one list of them, in the order the docs present them.

Each kind is one module holding its model, its save-time rules, its runtime and its
graph shape (see `workflows.language.kinds.Kind`). Registering them here builds the
step union of the template language; a new kind is a new module plus one entry below
(or `workflows.language.kinds.register(KIND)` from a plug-in). See docs/interpreter.md.
"""

from workflows.kinds import action, approval, fail, foreach, gate, loop, subflow, wait
from workflows.kinds import set as set_kind
from workflows.language.kinds import register

KINDS = (
    action.KIND,
    approval.KIND,
    gate.KIND,
    wait.KIND,
    set_kind.KIND,
    foreach.KIND,
    loop.KIND,
    subflow.KIND,
    fail.KIND,
)

register(*KINDS)
