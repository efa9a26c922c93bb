"""The end of day for one chunk of loans, as a plan: accrual, DPD, buckets, penalty, NPA,
write-off and default labels, worked out from values alone.

Vectorised so a million loans fit in minutes: the chunk's loans and their open instalments come
in as numpy arrays (dates as day numbers, money as int64 fen) and the plan goes out as arrays
too, so nothing here loops over loans in Python but the few that change state. The day runs in
two pure steps because two of its answers need facts only known once DPD is: :func:`plan_day`
decides everything a loan's own rows decide, then :func:`complete_day` adds the write-off
journal lines (from the receivables the loans carry) and the default labels (from the loans'
label facts). ``servicing.book.eod`` reads those facts and writes the finished
:class:`EodPlan`; nothing here reads the database or the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from creditgraph.servicing.accounts import Account, Line, credit, debit
from creditgraph.servicing.core.day_labels import Label, LabelFacts, default_labels
from creditgraph.servicing.delinquency import (
    BUCKETS,
    Bucket,
    DelinquencyRules,
    InstalmentArrays,
    IntArray,
    assess_day,
    bucket_index,
    daily_basis,
    daily_penalty_fen,
    segment_sum,
)
from creditgraph.servicing.lifecycle import LoanEvent, LoanState, transition

BoolArray = npt.NDArray[np.bool_]
EPOCH = date(1970, 1, 1)
RECEIVABLES = (
    Account.LOANS_RECEIVABLE,
    Account.INTEREST_RECEIVABLE,
    Account.PENALTY_RECEIVABLE,
    Account.FEE_RECEIVABLE,
)
"""What a written-off loan still carries and the write-off clears."""


def day_number(day: date) -> int:
    """Days since 1970-01-01: how dates travel in the day's arrays."""
    return (day - EPOCH).days


def from_day_number(number: int) -> date:
    return EPOCH + timedelta(days=int(number))


def ints(values: Sequence[int] | IntArray) -> IntArray:
    return np.asarray(values, dtype=np.int64)


class DelinquencyLimits(Protocol):
    """A product's thresholds as the day needs them (``ServicingParams`` has both)."""

    @property
    def npa_dpd(self) -> int: ...

    @property
    def write_off_dpd(self) -> int: ...


# --- what the day starts from -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoanChunk:
    """The chunk's loans as the last end of day left them, in id order."""

    ids: Sequence[str]
    state: Sequence[str]
    product: Sequence[str]
    penalty_rate: Sequence[str]
    """Annual penalty rate per loan, as exact decimal text."""
    day_count: Sequence[str]
    npa: BoolArray
    dpd: IntArray
    overdue_since: IntArray
    """Day number of the first day overdue, -1 if current."""

    @property
    def size(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> LoanChunk:
        return cls((), (), (), (), (), np.zeros(0, dtype=np.bool_), ints([]), ints([]))


@dataclass(frozen=True, slots=True)
class OpenRows:
    """The chunk's instalments still accruing or past due and unpaid; ``rows.loan`` is each
    row's position in the :class:`LoanChunk`."""

    ids: IntArray
    rows: InstalmentArrays

    @classmethod
    def empty(cls) -> OpenRows:
        none = ints([])
        return cls(none, InstalmentArrays(*([none] * 12)))


# --- what the day does ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryBatch:
    """One kind of the day's two-line postings: one per loan with a positive amount, each a debit
    and a credit of that amount (balanced by construction)."""

    loan: IntArray
    """Positions of the loans that post, in chunk order."""
    amount_fen: IntArray
    debit_account: Account
    credit_account: Account
    detail: tuple[str, ...]
    """Per posting: JSON text naming the instalment rows and their amounts."""

    def lines(self, k: int) -> tuple[Line, Line]:
        """The journal lines of the ``k``-th posting of the batch."""
        return self.entry(int(self.amount_fen[k]))

    def entry(self, fen: int) -> tuple[Line, Line]:
        """The journal lines of a posting of ``fen`` in this batch."""
        return debit(self.debit_account, fen), credit(self.credit_account, fen)

    @property
    def total_fen(self) -> int:
        return int(self.amount_fen.sum())


@dataclass(frozen=True, slots=True)
class Transition:
    """A loan's state change and the lifecycle event that records it."""

    loan_id: str
    from_state: str
    to_state: str
    event: str


@dataclass(frozen=True, slots=True)
class DayPlan:
    """What the day's rules decide for a chunk from its loans and rows alone."""

    day: date
    loans: LoanChunk
    row_ids: IntArray
    row_loan: IntArray
    """Per row: the position of its loan in ``loans``."""
    accrual_fen: IntArray
    """Per row: interest accrued today and booked (Dr interest receivable, Cr interest income)."""
    penalty_fen: IntArray
    """Per row: penalty booked today (Dr penalty receivable, Cr penalty income)."""
    memo_fen: IntArray
    """Per row: penalty of NPA loans, owed and kept on the row but not booked (income when paid)."""
    accrual: EntryBatch
    penalty: EntryBatch
    dpd: IntArray
    bucket: IntArray
    """Per loan: the position in ``BUCKETS`` of the new DPD."""
    npa: BoolArray
    overdue_since: IntArray
    state: tuple[str, ...]
    """Per loan: the state after today's overdue and cure transitions."""
    changed: IntArray
    """Positions of the loans whose status columns change."""
    transitions: tuple[Transition, ...]
    fell_overdue: BoolArray
    cured: BoolArray
    write_off: BoolArray
    """Loans whose DPD reached their product's write-off DPD."""

    def bucket_of(self, k: int) -> Bucket:
        return BUCKETS[int(self.bucket[k])]

    @property
    def became_npa(self) -> int:
        return int((self.npa & ~self.loans.npa).sum())

    def write_off_ids(self) -> list[str]:
        return [self.loans.ids[k] for k in np.flatnonzero(self.write_off).tolist()]

    def default_candidates(self, rules: DelinquencyRules) -> dict[str, date]:
        """Loans at or past the default DPD, with the day each reached it."""
        past = np.flatnonzero(self.dpd >= rules.default_dpd).tolist()
        return {
            self.loans.ids[k]: self.day - timedelta(days=int(self.dpd[k]) - rules.default_dpd)
            for k in past
        }

    def booked_fen(self, k: int) -> dict[Account, int]:
        """Receivables loan ``k`` gains from today's postings."""
        rows = self.row_loan == k
        return {
            Account.INTEREST_RECEIVABLE: int(self.accrual_fen[rows].sum()),
            Account.PENALTY_RECEIVABLE: int(self.penalty_fen[rows].sum()),
        }


@dataclass(frozen=True, slots=True)
class WriteOff:
    """A loan written off: Dr write_off_expense, Cr every receivable it still carries."""

    loan_id: str
    from_state: str
    to_state: str
    lines: tuple[Line, ...]
    """Empty when nothing is owed: the state changes without a posting."""
    detail: dict[str, int]
    """Fen cleared per receivable account."""

    @property
    def total_fen(self) -> int:
        return sum(line.credit_fen for line in self.lines)


@dataclass(frozen=True, slots=True)
class EodPlan:
    """Everything the end of day writes for one chunk, in the order it is written."""

    day: DayPlan
    write_offs: tuple[WriteOff, ...]
    default_labels: tuple[Label, ...]

    @property
    def written_off_fen(self) -> int:
        return sum(w.total_fen for w in self.write_offs)


# --- the rules ------------------------------------------------------------------------------------


def plan_day(
    day: date,
    loans: LoanChunk,
    open_rows: OpenRows,
    limits: Callable[[str], DelinquencyLimits],
) -> DayPlan:
    """DPD, accrual, penalty, NPA, buckets and state changes of every loan of the chunk on ``day``.

    From ``limits(product)``'s NPA DPD on (or once NPA and still in arrears) a loan accrues
    nothing to income: today's interest is not booked and its penalty is kept as memo. A loan in
    arrears falls overdue, one with none left is cured, and one at its write-off DPD is marked
    for :func:`complete_day`.
    """
    n = loans.size
    rows = open_rows.rows
    assessed = assess_day(day_number(day), n, rows)
    dpd = assessed.dpd
    params = [limits(code) for code in loans.product]
    npa_dpd = ints([p.npa_dpd for p in params])
    write_off_dpd = ints([p.write_off_dpd for p in params])
    npa = (dpd >= npa_dpd) | (loans.npa & (dpd > 0))
    accruing_row = ~npa[rows.loan]

    accrual = np.where(accruing_row, assessed.accrual, 0)
    contractual = contractual_penalty(loans, rows, assessed.overdue_principal)
    penalty = np.where(accruing_row, contractual, 0)
    memo = contractual - penalty

    overdue_since = np.where(assessed.oldest_overdue >= 0, assessed.oldest_overdue + 1, -1)
    states = np.asarray(loans.state)
    fell = (states == LoanState.ACTIVE.value) & (dpd > 0)
    cured = (states == LoanState.OVERDUE.value) & (dpd == 0)
    write_off = (dpd >= write_off_dpd) & ((states == LoanState.OVERDUE.value) | fell)
    transitions = []
    new_state = list(loans.state)
    for k in np.flatnonzero(fell | cured).tolist():
        event = LoanEvent.FALL_OVERDUE if fell[k] else LoanEvent.CURE
        target = transition(loans.state[k], event, loans.ids[k])
        transitions.append(Transition(loans.ids[k], loans.state[k], target.value, event.value))
        new_state[k] = target.value

    new_bucket = bucket_index(dpd)
    changed = (
        (dpd != loans.dpd)
        | (npa != loans.npa)
        | (overdue_since != loans.overdue_since)
        | fell
        | cured
        | (new_bucket != bucket_index(loans.dpd))
    )
    return DayPlan(
        day=day,
        loans=loans,
        row_ids=open_rows.ids,
        row_loan=rows.loan,
        accrual_fen=accrual.astype(np.int64),
        penalty_fen=penalty.astype(np.int64),
        memo_fen=memo.astype(np.int64),
        accrual=entry_batch(
            n,
            rows.loan,
            open_rows.ids,
            accrual,
            Account.INTEREST_RECEIVABLE,
            Account.INTEREST_INCOME,
        ),
        penalty=entry_batch(
            n,
            rows.loan,
            open_rows.ids,
            penalty,
            Account.PENALTY_RECEIVABLE,
            Account.PENALTY_INCOME,
        ),
        dpd=dpd,
        bucket=new_bucket,
        npa=npa,
        overdue_since=overdue_since.astype(np.int64),
        state=tuple(new_state),
        changed=np.flatnonzero(changed),
        transitions=tuple(transitions),
        fell_overdue=fell,
        cured=cured,
        write_off=write_off,
    )


def contractual_penalty(
    loans: LoanChunk, rows: InstalmentArrays, overdue_principal: IntArray
) -> IntArray:
    """Per row: a day of the loan's penalty rate on its overdue principal.

    Owed whether or not the loan is NPA; NPA only decides whether it is booked.
    """
    penalty = np.zeros(rows.size, dtype=np.int64)
    due = np.flatnonzero(overdue_principal > 0)
    if due.size == 0:
        return penalty
    owners = rows.loan[due]
    rates = [Decimal(loans.penalty_rate[k]) for k in owners]
    basis = ints([daily_basis(loans.day_count[k]) for k in owners])
    penalty[due] = daily_penalty_fen(overdue_principal[due], rates, basis)
    return penalty


def entry_batch(
    loans: int,
    row_loan: IntArray,
    row_ids: IntArray,
    row_amounts: IntArray,
    debit_account: Account,
    credit_account: Account,
) -> EntryBatch:
    """One posting per loan whose rows sum to a positive amount; its detail names the rows."""
    amounts = segment_sum(row_amounts, row_loan, loans)
    posting = np.flatnonzero(amounts > 0)
    parts: dict[int, list[str]] = {}
    if posting.size:
        paid = np.flatnonzero(row_amounts > 0)
        for owner, row_id, fen in zip(
            row_loan[paid].tolist(), row_ids[paid].tolist(), row_amounts[paid].tolist(), strict=True
        ):
            parts.setdefault(owner, []).append(f"[{row_id},{fen}]")
    detail = tuple(
        ['{"instalments":[' + ",".join(parts.get(k, ())) + "]}" for k in posting.tolist()]
    )
    return EntryBatch(posting, amounts[posting], debit_account, credit_account, detail)


def plan_write_off(loan_id: str, state: str, owed: Mapping[Account, int]) -> WriteOff:
    """The write-off of a loan owing ``owed`` per receivable (after today's postings)."""
    target = transition(state, LoanEvent.WRITE_OFF, loan_id)
    lines = [credit(account, owed[account]) for account in RECEIVABLES if owed.get(account, 0) > 0]
    total = sum(line.credit_fen for line in lines)
    journal = (debit(Account.WRITE_OFF_EXPENSE, total), *lines) if total else ()
    return WriteOff(
        loan_id,
        state,
        target.value,
        journal,
        {line.account.value: line.credit_fen for line in lines},
    )


def complete_day(
    plan: DayPlan,
    receivables: Mapping[str, Mapping[Account, tuple[int, int]]],
    label_facts: Sequence[LabelFacts],
    rules: DelinquencyRules,
    zone: ZoneInfo,
) -> EodPlan:
    """The chunk's whole plan: ``plan`` with its write-offs and default labels.

    ``receivables`` holds, per loan to write off, the (debit, credit) totals of its accounts as
    read before today's postings; today's booked accrual and penalty are added here. ``label_facts``
    are those of the default candidates still unlabelled whose person is still stored.
    """
    write_offs = []
    for k in np.flatnonzero(plan.write_off).tolist():
        loan_id = plan.loans.ids[k]
        totals = receivables.get(loan_id, {})
        owed = {account: d - c for account, (d, c) in totals.items()}
        for account, fen in plan.booked_fen(k).items():
            owed[account] = owed.get(account, 0) + fen
        write_offs.append(plan_write_off(loan_id, plan.state[k], owed))
    labels = default_labels(plan.day, plan.default_candidates(rules), label_facts, rules, zone)
    return EodPlan(plan, tuple(write_offs), labels)
