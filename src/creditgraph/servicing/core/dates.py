"""The open business date rule: postings carry the day after the last completed end of day."""

from __future__ import annotations

from datetime import date, timedelta

from creditgraph.servicing.core.values import LoanSnapshot
from creditgraph.servicing.errors import LoanInputError


class BusinessDateError(LoanInputError):
    """A posting dated outside the open business date (a closed day, or one not yet open)."""


def date_rule(loan_id: str, business_date: date, what: str, last: date | None) -> None:
    """Refuse ``what`` dated on a closed day or after the open one: end of day has already
    charged the closed days, and a later date would book income before it is earned."""
    if last is None:
        return
    opened = last + timedelta(days=1)
    if business_date <= last:
        raise BusinessDateError(
            f"loan {loan_id}: business date {business_date} of the {what} is closed: end of day "
            f"has run through {last}; the books are open for {opened} only"
        )
    if business_date > opened:
        raise BusinessDateError(
            f"loan {loan_id}: business date {business_date} of the {what} is not open yet: end "
            f"of day has run through {last}; the books are open for {opened}: run end of day up "
            f"to {business_date - timedelta(days=1)} first"
        )


def check_open_date(loan: LoanSnapshot, business_date: date, what: str) -> date | None:
    """Check ``what`` against the open business date; returns the last closed date (None when
    no end of day has run).

    While an end of day is running, the day it processes is not closed yet, but the loans it
    has already done are: for them the loan's own ``accrued_through`` counts as closed too.
    """
    last = loan.books_closed_through
    done = loan.accrued_through
    if done is not None and (last is None or done > last):
        last = done
    date_rule(loan.id, business_date, what, last)
    return last


def not_before_disbursement(loan: LoanSnapshot, business_date: date) -> None:
    if loan.disbursed_on is not None and business_date < loan.disbursed_on:
        raise LoanInputError(
            f"loan {loan.id}: business date {business_date} is before the disbursement "
            f"on {loan.disbursed_on}"
        )


def open_date_note(closed_through: date | None, business_date: date) -> str | None:
    """What a payment's detail keeps of the date rule: its date when end of day had run (the
    first day end of day treats it as paid), None when none had (a first run may start earlier)."""
    return None if closed_through is None else business_date.isoformat()
