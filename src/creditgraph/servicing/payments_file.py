"""Reading a repayment file (CSV, as a payment channel delivers it) into payments and row errors.

A bad row never stops the file: it is reported with the file, its row number (1 = first data
row), the field and the rule it broke, and the good rows go on to be posted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from creditgraph.servicing.loans import Payment

COLUMNS = ("loan_id", "amount", "business_date", "idempotency_key")


class PaymentsFileError(ValueError):
    """The file as a whole cannot be read (missing, not CSV, a required column absent)."""


@dataclass(frozen=True, slots=True)
class PaymentRowError:
    file: str
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} row {self.row} {self.field}: {self.message}"


def read_payments(path: Path) -> tuple[list[tuple[int, Payment]], list[PaymentRowError]]:
    """(row number, payment) for every well-formed row, and an error for every other row.

    Amounts are checked by the posting itself (positive, whole fen); here only what must be
    present and parse: the loan, the amount, an ISO date and the idempotency key.
    """
    if not path.is_file():
        raise PaymentsFileError(f"{path}: no such file")
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise PaymentsFileError(f"{path}: cannot be read ({exc.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise PaymentsFileError(
                f"{path}: missing column(s) {', '.join(missing)}; a repayment file has "
                f"{', '.join(COLUMNS)}"
            )
        good: list[tuple[int, Payment]] = []
        bad: list[PaymentRowError] = []
        for number, row in enumerate(reader, start=1):
            values = {c: (row.get(c) or "").strip() for c in COLUMNS}
            empty = [c for c in COLUMNS if not values[c]]
            if empty:
                bad.append(PaymentRowError(path.name, number, empty[0], "is empty"))
                continue
            try:
                on = date.fromisoformat(values["business_date"])
            except ValueError:
                message = "is not a date (YYYY-MM-DD)"
                bad.append(PaymentRowError(path.name, number, "business_date", message))
                continue
            payment = Payment(values["loan_id"], values["amount"], on, values["idempotency_key"])
            good.append((number, payment))
    return good, bad
