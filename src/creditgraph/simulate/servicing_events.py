"""Servicing's own events for the simulated loan book, so a replay needs no servicing run.

In production servicing writes these in the same transaction as the posting or the end of day;
for a simulated world they follow from each loan's known outcome (``book.py``):

- instalments fall due monthly from the application (principal split evenly, the last one taking
  the remainder; the simulated book carries no interest schedule);
- each instalment before the first missed one is repaid in full up to three days before its due
  date (``repayment_posted``, nothing left due); a good loan repays them all;
- a defaulter misses an instalment at ``missed_at``: some first pay part of it; the miss is an
  ``instalment_missed`` the day after the due date, as is every later instalment due before the
  default; the loan moves M0 -> M1 (1 day past due), M1 -> M2 (31) and M2 -> M3 (61)
  (``dpd_bucket_changed``), and at 90 days past due, the contract's default and the outcome's
  ``observed_at``, the loan is written off (``loan_written_off``, the principal still owed).

So the defaulters a replay knows before an instant (written-off loans) are exactly the ones a
feature build as of that instant seeds its exposure with (defaulted outcomes observed before it).
"""

from __future__ import annotations

import numpy as np

from creditgraph.simulate.book import LoanBook
from creditgraph.simulate.clock import DAY, add_months_seconds
from creditgraph.simulate.event_rows import SERVICING_SOURCE, Stream, day_text, yuan

PARTIAL_SHARE = 0.3
"""Share of defaulters who pay part of their first missed instalment before its due date."""
BUCKET_STEPS = (("M0", "M1", 1), ("M1", "M2", 31), ("M2", "M3", 61))


def loan_ids(loans: int) -> list[str]:
    """``L00000001``.. in order of application, as ``loan_outcomes`` numbers them."""
    width = max(8, len(str(loans)))
    return [f"L{i:0{width}d}" for i in range(1, loans + 1)]


def servicing_events(
    out: Stream,
    book: LoanBook,
    person_ids: list[str],
    rng: np.random.Generator,
    world_end: int,
) -> None:
    """Every servicing event of the book inside ``out``'s window (and before ``world_end``).

    ``rng`` draws for every loan whatever the window, so an event is the same in any window.
    """
    n = book.loans
    if n == 0:
        return
    max_term = int(book.term_months.max())
    early = rng.integers(0, 3 * DAY + 1, (n, max_term))
    partial = rng.random(n) < PARTIAL_SHARE
    paid_share = rng.uniform(0.2, 0.6, n)
    ids = loan_ids(n)
    months = np.arange(1, max_term + 1, dtype=np.int64)
    for i in range(n):
        term = int(book.term_months[i])
        applied = int(book.applied_at[i])
        last_event = (
            int(book.default_at[i]) if book.defaulted[i] else applied + (term + 1) * 31 * DAY
        )
        if last_event < out.start or applied >= out.end:
            continue
        due = add_months_seconds(np.full(term, applied, dtype=np.int64), months[:term])
        amount = int(book.amount_fen[i])
        share = np.full(term, amount // term, dtype=np.int64)
        share[-1] += amount - int(share.sum())
        person, loan = person_ids[int(book.person[i])], ids[i]
        missed = int(book.missed_at[i])
        first_missed = int(np.searchsorted(due, missed)) if book.defaulted[i] else term
        paid = 0
        for k in range(first_missed):
            at = int(due[k] - early[i, k])
            paid += int(share[k])
            if at < world_end:
                _repayment(out, at, person, loan, f"{loan}-{k + 1}", int(share[k]), 0)
        if not book.defaulted[i]:
            continue
        part = int(share[first_missed] * paid_share[i]) if partial[i] else 0
        if part > 0:
            at = int(due[first_missed] - early[i, first_missed])
            _repayment(
                out,
                at,
                person,
                loan,
                f"{loan}-{first_missed + 1}p",
                part,
                int(share[first_missed]) - part,
            )
            paid += part
        default_at = int(book.default_at[i])
        for k in range(first_missed, term):
            at = int(due[k]) + DAY
            if at >= default_at:
                break
            if out.start <= at < out.end:
                out.add(
                    at,
                    "instalment_missed",
                    person,
                    SERVICING_SOURCE,
                    loan_id=loan,
                    instalment=k + 1,
                    due_date=day_text(int(due[k]) // DAY),
                    amount_due=yuan(int(share[k])),
                    amount_paid=yuan(part if k == first_missed else 0),
                )
        for before, after, dpd in BUCKET_STEPS:
            at = missed + dpd * DAY
            if out.start <= at < out.end and at < default_at:
                out.add(
                    at,
                    "dpd_bucket_changed",
                    person,
                    SERVICING_SOURCE,
                    loan_id=loan,
                    from_bucket=before,
                    to_bucket=after,
                    dpd=dpd,
                )
        if out.start <= default_at < out.end:
            out.add(
                default_at,
                "loan_written_off",
                person,
                SERVICING_SOURCE,
                loan_id=loan,
                amount=yuan(amount - paid),
            )


def _repayment(
    out: Stream, at: int, person: str, loan: str, posting: str, fen: int, remaining: int
) -> None:
    if out.start <= at < out.end:
        out.add(
            at,
            "repayment_posted",
            person,
            SERVICING_SOURCE,
            loan_id=loan,
            posting_id=posting,
            amount=yuan(fen),
            remaining_due=yuan(remaining),
        )
