"""Errors of the servicing maths: each says what was wrong, in words a caller can act on."""

from __future__ import annotations

from creditgraph import idempotency


class ScheduleError(ValueError):
    """A schedule request that cannot be honoured: invalid input or an infeasible combination."""


class AllInRateError(ValueError):
    """Cash flows for which no all-in annualised rate exists or can be found."""


class LoanError(ValueError):
    """A loan command that cannot be carried out; the message names the loan, field and rule."""


class LoanNotFoundError(LoanError):
    """No loan (or decision, or transaction) by that id."""


class LoanInputError(LoanError):
    """Bad input to a loan command: an amount, date, mode or offer that breaks a rule."""


class LimitControlError(LoanError):
    """Risk monitoring froze the borrower's limit, or capped it below the offer: the offer
    cannot be accepted until an officer lifts the control. The message is in English and
    Chinese."""


class IdempotencyConflictError(LoanError, idempotency.IdempotencyConflictError):
    """An idempotency key reused with a different request body; nothing was posted (the
    shared rule's conflict, and a loan command's error)."""


class RefundStateError(LoanError):
    """No refund is due, or the refund was already paid; nothing was posted."""
