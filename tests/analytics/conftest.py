"""Fixtures of the analytics tests: the approval tests' directory (ann, bob, ... as managers)."""

from tests.workflows.approval_support import directory  # noqa: F401
