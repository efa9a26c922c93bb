"""The lender's historical loans: amount, term, and when each outcome happens and becomes known.

A lender learns outcomes one by one, not all at once. A defaulter misses an instalment, and the
default (90 days past due) is known 90 days later, somewhere within the 12-month window after
disbursement; a good payer is known once the loan is repaid at maturity or, for longer loans, once
the 12-month window has passed. Dating outcomes this way is what lets a point-in-time feature see
the defaults of people who applied earlier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from creditgraph.contracts.schema import SEGMENTS
from creditgraph.simulate import vocab
from creditgraph.simulate.clock import DAY, OUTCOME_MONTHS, add_months_seconds
from creditgraph.simulate.population_model import Population
from creditgraph.simulate.risk import Risk

DPD_DEFAULT = 90  # days past due that make a default, as the contract defines it
LAST_MISSED = 9  # the latest instalment whose 90 DPD still falls inside the 12-month window
MISSED_SCALE = 2.5  # mean months after the first due date before an ordinary defaulter misses one
FRAUD_FIRST_PAYMENT = 0.8  # rings mostly never pay at all
_BUSINESS = np.array([s in vocab.BUSINESS_SEGMENTS for s in SEGMENTS])


@dataclass
class LoanBook:
    """One historical loan per borrower, in order of application (loan ``i`` is ``L<i+1>``)."""

    person: NDArray[np.int64]
    applied_at: NDArray[np.int64]
    amount_fen: NDArray[np.int64]
    term_months: NDArray[np.int64]
    defaulted: NDArray[np.bool_]
    missed_at: NDArray[np.int64]  # first missed due date, -1 for good loans
    default_at: NDArray[np.int64]  # when 90 DPD was reached, -1 for good loans
    observed_at: NDArray[np.int64]  # when the lender knew the outcome

    @property
    def loans(self) -> int:
        return len(self.person)

    def default_at_by_person(self, n: int) -> NDArray[np.int64]:
        """Per person index: when their loan reached 90 DPD, -1 if it did not (or no loan)."""
        out = np.full(n, -1, dtype=np.int64)
        out[self.person] = self.default_at
        return out


def draw_book(pop: Population, risk: Risk, rng: np.random.Generator) -> LoanBook:
    """Amounts and terms by segment and income, then the dates of every outcome."""
    person = np.flatnonzero(pop.borrower)
    person = person[np.argsort(pop.applied_at[person], kind="stable")]
    n = len(person)
    seg = pop.segment[person]
    income = np.maximum(pop.income_fen[person] / 100.0, 1000.0)
    median = np.array(vocab.LOAN_MEDIAN)[seg] * np.sqrt(income / 6000.0)
    fraud = pop.ring[person] >= 0
    median = np.where(fraud, 50_000.0, median)
    amount = np.clip(np.round(rng.lognormal(np.log(median), 0.6) / 500) * 500, 500, 300_000)
    b_terms, b_p = vocab.BUSINESS_TERMS
    c_terms, c_p = vocab.CONSUMER_TERMS
    term = np.where(
        _BUSINESS[seg],
        rng.choice(np.array(b_terms), size=n, p=np.array(b_p)),
        rng.choice(np.array(c_terms), size=n, p=np.array(c_p)),
    ).astype(np.int64)
    applied = pop.applied_at[person]
    defaulted = risk.defaulted[person]

    # which monthly instalment a defaulter misses first: early ones are likelier, rings skip the first
    last = np.minimum(term, LAST_MISSED)
    k = 1 + np.minimum(np.floor(rng.exponential(MISSED_SCALE, n)).astype(np.int64), last - 1)
    k = np.where(fraud, np.where(rng.random(n) < FRAUD_FIRST_PAYMENT, 1, 2), k)
    window_end = add_months_seconds(applied, OUTCOME_MONTHS)
    missed = add_months_seconds(applied, k)
    late = (
        missed + DPD_DEFAULT * DAY >= window_end
    )  # a 31-day month too many: one instalment earlier
    missed = np.where(late, add_months_seconds(applied, k - 1), missed)
    default_at = missed + DPD_DEFAULT * DAY
    # a good loan is settled at maturity, or its window closes at 12 months for longer terms
    settled = add_months_seconds(applied, np.minimum(term, OUTCOME_MONTHS).astype(np.int64))
    return LoanBook(
        person=person.astype(np.int64),
        applied_at=applied.astype(np.int64),
        amount_fen=(amount * 100).astype(np.int64),
        term_months=term,
        defaulted=defaulted.astype(bool),
        missed_at=np.where(defaulted, missed, -1).astype(np.int64),
        default_at=np.where(defaulted, default_at, -1).astype(np.int64),
        observed_at=np.where(defaulted, default_at, settled).astype(np.int64),
    )
