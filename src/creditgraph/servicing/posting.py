"""What a posting command says back (:class:`PostingResult`) and how its inputs are checked:
amounts in whole fen, dates, idempotency keys under the shared rule
(:mod:`creditgraph.idempotency`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from creditgraph import idempotency
from creditgraph.money import MoneyError, as_decimal, from_fen, is_whole_fen, to_fen
from creditgraph.servicing.core.plan import PostingPlan
from creditgraph.servicing.errors import IdempotencyConflictError, LoanInputError

MAX_AMOUNT_FEN = 10**14


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

    @classmethod
    def posted(
        cls, plan: PostingPlan, transaction_id: str, key: str, detail: Mapping[str, Any]
    ) -> PostingResult:
        """The result of ``plan`` just written as ``transaction_id`` with ``detail``."""
        return cls(
            transaction_id,
            plan.loan_id,
            plan.kind.value,
            key,
            from_fen(plan.amount_fen),
            plan.business_date,
            str(detail["state_after"]),
            False,
            detail,
        )

    @classmethod
    def replay(cls, stored: Mapping[Any, Any], key: str, digest: str) -> PostingResult:
        """The first result of ``key`` (a stored transaction row) for a request hashed
        ``digest``; a different request under the same key is refused, and so is any request
        under a key stored without a hash (a refund's payout, say)."""
        if idempotency.judge_stored(stored["request_sha256"], digest) is idempotency.Seen.CONFLICT:
            raise IdempotencyConflictError(
                f"idempotency key {key!r} was used for a different request "
                f"({stored['kind']} on loan {stored['loan_id']}); nothing was posted"
            )
        detail = stored["detail"]
        return cls(
            transaction_id=stored["id"],
            loan_id=stored["loan_id"],
            kind=stored["kind"],
            idempotency_key=key,
            amount=from_fen(stored["amount_fen"]),
            business_date=stored["business_date"],
            state=detail.get("state_after", ""),
            replayed=True,
            detail=detail,
        )


def new_idempotency_key() -> str:
    return f"idem-{uuid.uuid4().hex}"


def check_key(key: str | None) -> str:
    """The key under the shared rule, or a new one when none was given."""
    if key is None:
        return new_idempotency_key()
    try:
        return idempotency.check_key(key)
    except idempotency.IdempotencyKeyError as exc:
        raise LoanInputError(str(exc)) from None


request_hash = idempotency.request_sha256
"""What an idempotency key vouches for: the canonical JSON hash of the request."""


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


def check_date(value: object, loan_id: str, what: str = "business date") -> date:
    if not isinstance(value, date):
        raise LoanInputError(f"loan {loan_id}: {what} must be a date, got {value!r}")
    return value


def check_name(value: object, what: str) -> str:
    """A channel's or an officer's name: 1 to 100 characters without surrounding spaces."""
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100 or value != value.strip():
        raise LoanInputError(f"{what} must be 1 to 100 characters without surrounding spaces")
    return value
