"""The parts every posting shares: amounts and keys checked, dues settled in allocation order,
per-instalment deltas applied in one batched statement, journal lines accumulated.

Deltas are stored with each transaction (``[instalment id, principal, interest, fee, penalty,
interest accrued, memo penalty paid]``) so a reversal can take back exactly what the posting
did. Memo penalty (accrued off balance while the loan was NPA) is paid first and is income on
receipt; only the rest of a penalty payment clears penalty_receivable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import RowMapping, bindparam, select, update
from sqlalchemy.engine import Connection

from creditgraph.canonical import sha256_of
from creditgraph.money import MoneyError, as_decimal, is_whole_fen, to_fen
from creditgraph.servicing import book
from creditgraph.servicing.accounts import Account, Line
from creditgraph.servicing.allocation import AllocationRule, Component, Due, allocate
from creditgraph.servicing.delinquency import daily_penalty_fen, days_past_due
from creditgraph.servicing.errors import LoanInputError

LOANS, INSTALMENTS, TRANSACTIONS = book.LOANS, book.INSTALMENTS, book.TRANSACTIONS
K = book.TransactionKind
Row = Mapping[Any, Any]

MAX_AMOUNT_FEN = 10**14
REVERSIBLE = frozenset({K.REPAYMENT.value, K.PREPAYMENT.value})

# One batched statement applies every instalment change of a posting (paid and accrued deltas).
ROW_DELTA_SQL = (
    "UPDATE loan_instalments SET principal_paid_fen = principal_paid_fen + ?, "
    "interest_paid_fen = interest_paid_fen + ?, fee_paid_fen = fee_paid_fen + ?, "
    "penalty_paid_fen = penalty_paid_fen + ?, interest_accrued_fen = interest_accrued_fen + ?, "
    "penalty_memo_fen = penalty_memo_fen - ? WHERE id = ?"
)
SUPERSEDE = (
    update(INSTALMENTS)
    .where(INSTALMENTS.c.id == bindparam("row_id"))
    .values(superseded=bindparam("flag"))
)
BY_KEY = select(
    TRANSACTIONS.c.id,
    TRANSACTIONS.c.loan_id,
    TRANSACTIONS.c.kind,
    TRANSACTIONS.c.business_date,
    TRANSACTIONS.c.amount_fen,
    TRANSACTIONS.c.request_sha256,
    TRANSACTIONS.c.detail,
).where(TRANSACTIONS.c.idempotency_key == bindparam("key"))

COMPONENT_ACCOUNT = {
    Component.PENALTY: Account.PENALTY_RECEIVABLE,
    Component.FEE: Account.FEE_INCOME,  # per-period fees are income when paid (cash basis)
    Component.INTEREST: Account.INTEREST_RECEIVABLE,
    Component.PRINCIPAL: Account.LOANS_RECEIVABLE,
}
# Position of each component's delta in a stored delta record
# [row_id, p, i, f, pen, accrued, memo]; records written before memo penalty have six slots.
SLOT = {Component.PRINCIPAL: 1, Component.INTEREST: 2, Component.FEE: 3, Component.PENALTY: 4}
ACCRUED, MEMO = 5, 6


@dataclass(frozen=True)
class PostingResult:
    """What a posting command did (or, replayed, what the first request with the key did)."""

    transaction_id: str
    loan_id: str
    kind: str
    idempotency_key: str
    amount: Decimal
    business_date: date
    state: str
    replayed: bool = False
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "loan_id": self.loan_id,
            "kind": self.kind,
            "idempotency_key": self.idempotency_key,
            "amount": str(self.amount),
            "business_date": self.business_date.isoformat(),
            "state": self.state,
            "replayed": self.replayed,
            "detail": dict(self.detail),
        }


class Lines:
    """Journal lines accumulated per account and side; zero amounts are dropped."""

    def __init__(self) -> None:
        self._dr: dict[Account, int] = {}
        self._cr: dict[Account, int] = {}

    def dr(self, account: Account, fen: int) -> None:
        if fen:
            self._dr[account] = self._dr.get(account, 0) + fen

    def cr(self, account: Account, fen: int) -> None:
        if fen:
            self._cr[account] = self._cr.get(account, 0) + fen

    def lines(self) -> list[Line]:
        return [Line(a, debit_fen=f) for a, f in self._dr.items()] + [
            Line(a, credit_fen=f) for a, f in self._cr.items()
        ]


def new_idempotency_key() -> str:
    return f"idem-{uuid.uuid4().hex}"


def parse_amount(value: object, loan_id: str, what: str = "amount") -> int:
    """A positive whole-fen amount in yuan (Decimal, int or decimal string), as fen."""
    try:
        amount = as_decimal(value, what)
    except MoneyError as exc:
        raise LoanInputError(f"loan {loan_id}: {exc}") from None
    if not is_whole_fen(amount):
        raise LoanInputError(
            f"loan {loan_id}: {what} {value} has more than 2 decimals; amounts are whole fen"
        )
    if amount <= 0:
        raise LoanInputError(f"loan {loan_id}: {what} must be positive, got {value}")
    fen = to_fen(amount)
    if fen > MAX_AMOUNT_FEN:
        raise LoanInputError(f"loan {loan_id}: {what} {value} is beyond any loan")
    return fen


def request_hash(body: Mapping[str, Any]) -> str:
    """What an idempotency key vouches for: the canonical JSON hash of the request."""
    return sha256_of(body)


def check_key(key: str | None) -> str:
    if key is None:
        return new_idempotency_key()
    if not isinstance(key, str) or not 1 <= len(key.strip()) <= 200 or key != key.strip():
        raise LoanInputError(
            "idempotency key must be 1 to 200 characters without surrounding spaces"
        )
    return key


def check_date(value: object, loan_id: str, what: str = "business date") -> date:
    if not isinstance(value, date):
        raise LoanInputError(f"loan {loan_id}: {what} must be a date, got {value!r}")
    return value


def outstanding(row: Row) -> dict[Component, int]:
    return {
        Component.PENALTY: row["penalty_accrued_fen"] - row["penalty_paid_fen"],
        Component.FEE: row["fee_due_fen"] - row["fee_paid_fen"],
        Component.INTEREST: row["interest_due_fen"] - row["interest_paid_fen"],
        Component.PRINCIPAL: row["principal_due_fen"] - row["principal_paid_fen"],
    }


def settled(row: Row) -> bool:
    return not any(outstanding(row).values())


def owed(row: Row) -> int:
    return sum(outstanding(row).values())


@dataclass
class Settlement:
    """The effect of paying dues: per-row deltas, lines and fen left over."""

    deltas: dict[int, list[int]] = field(default_factory=dict)
    lines: Lines = field(default_factory=Lines)
    paid: dict[str, int] = field(default_factory=dict)

    def delta(self, row_id: int) -> list[int]:
        return self.deltas.setdefault(row_id, [row_id, 0, 0, 0, 0, 0, 0])


def settle(rows: Sequence[RowMapping], funds: int, rule: AllocationRule, out: Settlement) -> int:
    """Allocate ``funds`` over ``rows`` (all due); returns what is left. Interest paid before it
    has accrued is accrued first, so interest income is never short; memo penalty is income
    when paid, since it was never booked as a receivable."""
    by_id = {row["id"]: row for row in rows}
    dues = [Due(row["id"], outstanding(row)) for row in rows]
    allocations, left = allocate(funds, dues, rule)
    for a in allocations:
        d = out.delta(a.key)
        d[SLOT[a.component]] += a.fen
        out.paid[a.component.value] = out.paid.get(a.component.value, 0) + a.fen
        if a.component is Component.PENALTY:
            memo = min(a.fen, by_id[a.key]["penalty_memo_fen"] - d[MEMO])
            d[MEMO] += memo
            out.lines.cr(Account.PENALTY_INCOME, memo)
            out.lines.cr(Account.PENALTY_RECEIVABLE, a.fen - memo)
        else:
            out.lines.cr(COMPONENT_ACCOUNT[a.component], a.fen)
        if a.component is Component.INTEREST:
            row = by_id[a.key]
            accrue = max(0, row["interest_paid_fen"] + d[2] - row["interest_accrued_fen"] - d[5])
            d[5] += accrue
            out.lines.dr(Account.INTEREST_RECEIVABLE, accrue)
            out.lines.cr(Account.INTEREST_INCOME, accrue)
    return left


def memo_paid(d: Sequence[int]) -> int:
    """The memo penalty a stored delta paid (0 for records from before memo penalty)."""
    return d[MEMO] if len(d) > MEMO else 0


def apply_deltas(conn: Connection, deltas: Iterable[Sequence[int]], sign: int = 1) -> None:
    """Apply (``sign`` 1) or take back (-1) per-row deltas in one batched statement."""
    rows = [
        (
            sign * d[1],
            sign * d[2],
            sign * d[3],
            sign * d[4],
            sign * d[5],
            sign * memo_paid(d),
            d[0],
        )
        for d in deltas
        if any(d[1:])
    ]
    # Integers only, so straight to the driver: this runs on every posting.
    book.DriverValues(conn).executemany(ROW_DELTA_SQL, rows)


def position(
    rows: Sequence[Row],
    deltas: Mapping[int, Sequence[int]],
    superseded: Iterable[int],
    new_rows: Sequence[Row],
    on: date,
) -> tuple[bool, bool]:
    """After a posting's deltas: is everything settled, and is anything due before ``on``
    still unpaid (arrears)? Computed without copying rows (this is on the posting path)."""
    gone = set(superseded)
    settled_all, arrears = True, False
    for row in [*rows, *new_rows]:
        if row["id"] in gone:
            continue
        left = owed(row)
        d = deltas.get(row["id"])
        if d is not None:
            left -= d[1] + d[2] + d[3] + d[4]
        if left:
            settled_all = False
            if row["due_date"] < on:
                arrears = True
                break
    return settled_all, arrears


def reversible(row: Row, d: Sequence[int]) -> bool:
    """Whether taking delta ``d`` back keeps the row's balances valid."""
    principal = row["principal_paid_fen"] - d[1]
    interest = row["interest_paid_fen"] - d[2]
    fee = row["fee_paid_fen"] - d[3]
    penalty = row["penalty_paid_fen"] - d[4]
    accrued = row["interest_accrued_fen"] - d[5]
    memo = row["penalty_memo_fen"] + memo_paid(d)
    return bool(
        min(principal, interest, fee, penalty) >= 0
        and 0 <= interest <= accrued
        and memo <= row["penalty_accrued_fen"] - penalty
    )


def oldest_arrears(rows: Iterable[Row], on: date) -> date | None:
    """The due date of the oldest row still owing something and past due at the end of ``on``
    (end of day's rule: a row is late from the day after its due date)."""
    late = [row["due_date"] for row in rows if row["due_date"] < on and owed(row) > 0]
    return min(late) if late else None


def arrears_status(rows: Sequence[Row], on: date) -> tuple[int, date | None]:
    """Days past due and ``overdue_since`` as end of day would set them on ``on``."""
    oldest = oldest_arrears(rows, on)
    since = None if oldest is None else oldest + timedelta(days=1)
    return days_past_due(oldest, on), since


@dataclass(frozen=True)
class CatchUp:
    """Penalty end of day did not charge because a reversed payment hid the principal it put
    back: per row, booked (to penalty_receivable) and memo (off balance, NPA days) fen."""

    booked: dict[int, int]
    memo: dict[int, int]
    days: int
    npa: bool


def catch_up_penalty(
    rows: Sequence[Row],
    put_back: Mapping[int, int],
    first_day: date,
    last_day: date,
    rate: Decimal,
    basis: int,
    npa_dpd: int,
    npa_before: bool,
) -> CatchUp:
    """The penalty for each day ``first_day``..``last_day`` (days end of day already ran) on the
    principal ``put_back`` per row id, rounded per day as end of day does: a day's penalty on
    the row is its daily penalty on all its overdue principal less what end of day charged on
    the principal it saw. NPA days (the loan's DPD on the day, NPA sticky while in arrears)
    accrue to memo. ``rows`` are the loan's current rows after the reversal."""
    booked: dict[int, int] = {}
    memo: dict[int, int] = {}
    touched = [r for r in rows if put_back.get(r["id"], 0) > 0]
    npa = npa_before
    if not touched or first_day > last_day:
        return CatchUp(booked, memo, 0, npa)
    after = [r["principal_due_fen"] - r["principal_paid_fen"] for r in touched]
    seen = [a - put_back[r["id"]] for a, r in zip(after, touched, strict=True)]
    amounts = np.asarray(after + seen, dtype=np.int64)
    rates = [rate] * len(amounts)
    daily = daily_penalty_fen(amounts, rates, np.full(len(amounts), basis, dtype=np.int64))
    per_day = [int(daily[k]) - int(daily[len(after) + k]) for k in range(len(after))]
    day, days = first_day, 0
    while day <= last_day:
        dpd, _ = arrears_status(rows, day)
        npa = dpd >= npa_dpd or (npa and dpd > 0)
        target = memo if npa else booked
        for row, fen in zip(touched, per_day, strict=True):
            if row["due_date"] < day and fen > 0:
                target[row["id"]] = target.get(row["id"], 0) + fen
        day += timedelta(days=1)
        days += 1
    return CatchUp(booked, memo, days, npa)


def post_refund(
    conn: Connection,
    loan_id: str,
    fen: int,
    day: date,
    by: str,
    of: str,
    tx_id: str,
    refund_id: str,
) -> None:
    """Pay back the credit a closed loan holds (Dr borrower_credit, Cr cash_clearing), as the
    officer ``by`` approved; ``of`` is the posting that closed it. The refund's id is the
    posting's idempotency key, so a refund is paid once however often it is approved."""
    book.post_lines(
        conn,
        loan_id,
        book.TransactionKind.REFUND,
        day,
        [Line(Account.BORROWER_CREDIT, debit_fen=fen), Line(Account.CASH_CLEARING, credit_fen=fen)],
        by,
        {
            "refund_of": of,
            "refund_id": refund_id,
            "approved_by": by,
            "reason": "loan closed with borrower credit",
        },
        idempotency_key=f"refund:{refund_id}",
        transaction_id=tx_id,
    )
