"""The loan state machine: states, events and the legal transitions between them.

Pure and explicit: a transition not in the table raises :class:`LoanStateError` naming the loan,
its state and the event, so no code path can move a loan somewhere the design does not allow.
"""

from __future__ import annotations

from enum import StrEnum


class LoanState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    ACTIVE = "active"  # disbursed and current
    OVERDUE = "overdue"
    CLOSED = "closed"  # repaid in full
    WRITTEN_OFF = "written_off"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class LoanEvent(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"
    DISBURSE = "disburse"
    FALL_OVERDUE = "overdue"  # EOD: an instalment unpaid past its due date
    CURE = "cure"  # all arrears paid
    REPAY_IN_FULL = "repay_in_full"
    WRITE_OFF = "write_off"
    REOPEN = "reopen"  # a reversal took back the payment that closed the loan


S, E = LoanState, LoanEvent

TRANSITIONS: dict[tuple[LoanState, LoanEvent], LoanState] = {
    (S.OFFERED, E.ACCEPT): S.ACCEPTED,
    (S.OFFERED, E.REJECT): S.REJECTED,
    (S.OFFERED, E.CANCEL): S.CANCELLED,
    (S.ACCEPTED, E.CANCEL): S.CANCELLED,
    (S.ACCEPTED, E.DISBURSE): S.ACTIVE,
    (S.ACTIVE, E.FALL_OVERDUE): S.OVERDUE,
    (S.OVERDUE, E.CURE): S.ACTIVE,
    (S.ACTIVE, E.REPAY_IN_FULL): S.CLOSED,
    (S.OVERDUE, E.REPAY_IN_FULL): S.CLOSED,
    (S.OVERDUE, E.WRITE_OFF): S.WRITTEN_OFF,
    (S.ACTIVE, E.WRITE_OFF): S.WRITTEN_OFF,
    (S.CLOSED, E.REOPEN): S.ACTIVE,
}

SERVICED = frozenset({S.ACTIVE, S.OVERDUE})
"""States in which a loan takes repayments and end-of-day processing."""

TERMINAL = frozenset({S.CLOSED, S.WRITTEN_OFF, S.CANCELLED, S.REJECTED})


class LoanStateError(ValueError):
    """An event that is not legal in the loan's current state."""


def transition(state: LoanState | str, event: LoanEvent | str, loan_id: str = "loan") -> LoanState:
    """The state after ``event``; raises :class:`LoanStateError` if the event is illegal."""
    try:
        current, happening = LoanState(state), LoanEvent(event)
    except ValueError as exc:
        raise LoanStateError(f"loan {loan_id}: {exc}") from None
    target = TRANSITIONS.get((current, happening))
    if target is None:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is current) or ["none"]
        raise LoanStateError(
            f"loan {loan_id} is {current.value}: cannot {happening.value} "
            f"(allowed: {', '.join(allowed)})"
        )
    return target


def require_serviced(state: LoanState | str, loan_id: str, action: str) -> LoanState:
    """The state, if the loan can take ``action`` (a payment); otherwise a clear error."""
    current = LoanState(state)
    if current not in SERVICED:
        raise LoanStateError(
            f"loan {loan_id} is {current.value}: cannot {action} "
            "(only active or overdue loans take payments)"
        )
    return current
