"""Why the workflow refuses a decision or a reassignment: the `ApplicationError` types its
update validators raise (nothing is written to history) and the API maps to 403/409/422."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NoReturn

from temporalio.exceptions import ApplicationError


class ApprovalError(StrEnum):
    NOT_ASSIGNEE = "NotAssignee"
    NOT_AWAITING = "NotAwaitingDecision"
    ALREADY_VOTED = "AlreadyVoted"
    OUTCOME_NOT_ALLOWED = "OutcomeNotAllowed"
    INVALID_FORM = "InvalidForm"
    INVALID_REASSIGN = "InvalidReassign"
    #: `self_approval: false` and the actor started the run (SPEC §11 separation of duties)
    SELF_APPROVAL = "SelfApprovalNotAllowed"
    #: an assignee asked for more than handing over their own seat to one user
    NOT_ALLOWED = "NotAllowed"
    #: the user named in a handover already decides this step
    ALREADY_ASSIGNEE = "AlreadyAssignee"
    #: the request reached the run after the deadline the API gave it (the API answered 504)
    EXPIRED = "Expired"


def refuse(kind: ApprovalError, message: str, *details: Any) -> NoReturn:
    raise ApplicationError(message, *details, type=kind.value, non_retryable=True)
