"""relayflow's workflow side: the template language (`language/`), the step kinds
(`kinds/`) and the engine that runs them (`engine/`).

Importing the package registers the built-in step kinds (`workflows.kinds.KINDS`) with
the language, so every user of `Template` sees them. relayflow's workers pass this whole
package through the workflow sandbox (`worker.PASSTHROUGH_MODULES`); under Temporal's
default sandbox only the workflow module and its parent packages are re-imported per run.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # `import a.b` (not `from a import b`): the sandbox passes through whole names only
    import workflows.kinds  # noqa: F401 - registers the built-in kinds
