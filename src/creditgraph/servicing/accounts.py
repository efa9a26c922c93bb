"""The chart of accounts and balanced journal lines, in integer fen.

Pure: building and checking lines needs no database, so every posting can be checked for balance
before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Account(StrEnum):
    """Ledger accounts (see docs/servicing.md); assets and expenses are debit-normal."""

    LOANS_RECEIVABLE = "loans_receivable"
    INTEREST_RECEIVABLE = "interest_receivable"
    PENALTY_RECEIVABLE = "penalty_receivable"
    FEE_RECEIVABLE = "fee_receivable"
    CASH_CLEARING = "cash_clearing"
    BORROWER_CREDIT = "borrower_credit"
    INTEREST_INCOME = "interest_income"
    PENALTY_INCOME = "penalty_income"
    FEE_INCOME = "fee_income"
    WRITE_OFF_EXPENSE = "write_off_expense"


DEBIT_NORMAL = frozenset(
    {
        Account.LOANS_RECEIVABLE,
        Account.INTEREST_RECEIVABLE,
        Account.PENALTY_RECEIVABLE,
        Account.FEE_RECEIVABLE,
        Account.CASH_CLEARING,
        Account.WRITE_OFF_EXPENSE,
    }
)


class UnbalancedPostingError(ValueError):
    """Journal lines that do not balance, or a line that is not one positive side."""


@dataclass(frozen=True, slots=True)
class Line:
    """One side of a double entry: exactly one of ``debit_fen`` and ``credit_fen`` is positive."""

    account: Account
    debit_fen: int = 0
    credit_fen: int = 0


def debit(account: Account, fen: int) -> Line:
    return Line(account, debit_fen=fen)


def credit(account: Account, fen: int) -> Line:
    return Line(account, credit_fen=fen)


def entry(debit_account: Account, credit_account: Account, fen: int) -> list[Line]:
    """A two-line entry, or nothing for zero fen (a zero line is never written)."""
    if fen == 0:
        return []
    return [debit(debit_account, fen), credit(credit_account, fen)]


def check_balanced(lines: Iterable[Line]) -> list[Line]:
    """The lines, checked: each one-sided and positive in whole fen, debits equal to credits."""
    checked = list(lines)
    if not checked:
        raise UnbalancedPostingError("a posting needs at least one journal line")
    debits = credits = 0
    for line in checked:
        if not isinstance(line.account, Account):
            raise UnbalancedPostingError(f"unknown account {line.account!r}")
        d, c = line.debit_fen, line.credit_fen
        if type(d) is not int or type(c) is not int:
            raise UnbalancedPostingError(f"{line.account}: amounts must be integer fen")
        if not ((d > 0 and c == 0) or (d == 0 and c > 0)):
            raise UnbalancedPostingError(
                f"{line.account}: a line has exactly one positive side, got debit {d} credit {c}"
            )
        debits += d
        credits += c
    if debits != credits:
        raise UnbalancedPostingError(
            f"journal lines do not balance: debits {debits} fen, credits {credits} fen"
        )
    return checked


def mirror(lines: Iterable[Line]) -> list[Line]:
    """The exact reversal of ``lines``: every debit becomes a credit and vice versa."""
    return [Line(line.account, line.credit_fen, line.debit_fen) for line in lines]


def balances(lines: Iterable[Line]) -> dict[Account, int]:
    """Debit-minus-credit per account (positive for a debit balance)."""
    out: dict[Account, int] = {}
    for line in lines:
        out[line.account] = out.get(line.account, 0) + line.debit_fen - line.credit_fen
    return out


def normal_balance(account: Account, net_debit_fen: int) -> int:
    """The balance as the account's holder reads it: debit-normal or credit-normal."""
    return net_debit_fen if account in DEBIT_NORMAL else -net_debit_fen


def lines_from_rows(rows: Iterable[Mapping[str, object]]) -> list[Line]:
    """Lines from stored journal rows (``account``, ``debit_fen``, ``credit_fen``)."""
    return [
        Line(Account(str(row["account"])), int(row["debit_fen"]), int(row["credit_fen"]))  # type: ignore[call-overload]
        for row in rows
    ]
