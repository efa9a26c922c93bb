"""Repayment intents: the borrower's app says it will pay; a payment channel confirms the money.

An app may not post money (anything can claim to have paid). It records an intent (loan, amount,
method); the channel that received the money confirms it with its own reference and the amount
it actually received, and only then is a repayment posted, through the same
:meth:`LoanService.repay` as every other, with the ceiling checked. The posting and the intent's
confirmation are one transaction, keyed by the intent (``intent:<id>``), so a confirmation
retried, raced or replayed after a crash posts exactly once; a channel reference confirms one
intent only.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import RowMapping, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from creditgraph.money import from_fen
from creditgraph.servicing import book
from creditgraph.servicing.errors import LoanError, LoanInputError, LoanNotFoundError
from creditgraph.servicing.lifecycle import require_serviced
from creditgraph.servicing.loans import LoanService, check_name
from creditgraph.servicing.posting import PostingResult, parse_amount
from creditgraph.store.db import write_transaction
from creditgraph.store.models import RepaymentIntent, table_of

INTENTS = table_of(RepaymentIntent)
METHODS = ("bank_card", "bank_transfer", "alipay", "wechat_pay")
PENDING, CONFIRMED = "pending", "confirmed"


class IntentNotFoundError(LoanNotFoundError):
    """No such intent (or not one this caller made)."""


class IntentConflictError(LoanError):
    """A confirmation that disagrees with the first one, or a channel reference already used."""


class IntentService:
    """Intents over a :class:`LoanService`, which posts the confirmed repayments."""

    def __init__(self, loans: LoanService) -> None:
        self.loans = loans
        self.engine = loans.engine

    def create(
        self, loan_id: str, amount: object, method: str, *, key_id: int | None, actor: str
    ) -> dict[str, Any]:
        """A pending intent to pay ``amount`` (yuan) on a loan that takes repayments."""
        fen = parse_amount(amount, loan_id)
        if method not in METHODS:
            raise LoanInputError(f"loan {loan_id}: method must be one of {', '.join(METHODS)}")
        with write_transaction(self.engine) as conn:
            loan = book.lock_loan(conn, loan_id)
            if loan is None:
                raise LoanNotFoundError(f"loan {loan_id}: no such loan")
            require_serviced(loan["state"], loan_id, "take a repayment intent")
            intent_id = book.new_id("RI")
            conn.execute(
                INTENTS.insert(),
                {
                    "id": intent_id,
                    "loan_id": loan_id,
                    "kind": "repayment",
                    "amount_fen": fen,
                    "method": method,
                    "status": PENDING,
                    "created_by_key_id": key_id,
                    "created_by": actor,
                    "created_at": book.now(),
                },
            )
            return _as_dict(_row(conn, intent_id))

    def get(self, intent_id: str, key_id: int | None = None) -> dict[str, Any]:
        """The intent; with ``key_id``, only if that API key made it."""
        with self.engine.connect() as conn:
            row = conn.execute(select(INTENTS).where(INTENTS.c.id == intent_id)).mappings().first()
        if row is None or (key_id is not None and row["created_by_key_id"] != key_id):
            raise IntentNotFoundError(f"no repayment intent {intent_id}")
        return _as_dict(row)

    def for_loan(self, loan_id: str, key_id: int | None = None) -> list[dict[str, Any]]:
        """A loan's intents, oldest first; with ``key_id``, only that API key's."""
        statement = select(INTENTS).where(INTENTS.c.loan_id == loan_id)
        if key_id is not None:
            statement = statement.where(INTENTS.c.created_by_key_id == key_id)
        with self.engine.connect() as conn:
            rows = conn.execute(statement.order_by(INTENTS.c.created_at, INTENTS.c.id)).mappings()
            return [_as_dict(r) for r in rows]

    def confirm(
        self,
        intent_id: str,
        channel: str,
        reference: str,
        amount: object,
        business_date: date,
        actor: str,
    ) -> tuple[dict[str, Any], bool]:
        """Post the repayment ``channel`` received for the intent (its ``reference``, the
        ``amount`` it received, on ``business_date``). Returns the intent and whether this was
        a replay of the confirmation already made (nothing posted again)."""
        channel = check_name(channel, "channel")
        if not isinstance(reference, str) or not 1 <= len(reference.strip()) <= 200:
            raise LoanInputError("channel_reference must be 1 to 200 characters")
        intent = self.get(intent_id)
        fen = parse_amount(amount, intent["loan_id"])
        if intent["status"] == CONFIRMED:
            return self._same(intent, channel, reference, fen), True
        with self.engine.connect() as conn:
            used = conn.execute(
                select(INTENTS.c.id).where(
                    INTENTS.c.channel == channel, INTENTS.c.channel_reference == reference
                )
            ).scalar()
        if used == intent_id:  # confirmed meanwhile by a racing confirmation
            return self._same(self.get(intent_id), channel, reference, fen), True
        if used is not None:
            raise IntentConflictError(
                f"channel {channel} reference {reference} already confirmed intent {used}"
            )

        def record(conn: Connection, result: PostingResult) -> None:
            done = conn.execute(
                update(INTENTS)
                .where(INTENTS.c.id == intent_id, INTENTS.c.status == PENDING)
                .values(
                    status=CONFIRMED,
                    channel=channel,
                    channel_reference=reference,
                    confirmed_amount_fen=fen,
                    confirmed_at=book.now(),
                    transaction_id=result.transaction_id,
                )
            )
            if done.rowcount != 1:
                raise IntentConflictError(f"intent {intent_id} was confirmed meanwhile")

        try:
            result = self.loans.repay(
                intent["loan_id"],
                amount,
                business_date,
                key=f"intent:{intent_id}",
                actor=actor,
                channel=channel,
                on_posted=record,
            )
        except IntegrityError:
            raise IntentConflictError(
                f"channel {channel} reference {reference} already confirmed another intent"
            ) from None
        confirmed = self.get(intent_id)
        if result.replayed:  # another confirmation of the same intent got there first
            return self._same(confirmed, channel, reference, fen), True
        return confirmed, False

    @staticmethod
    def _same(intent: dict[str, Any], channel: str, reference: str, fen: int) -> dict[str, Any]:
        """The confirmed intent if this confirmation repeats the first one; else a conflict."""
        if (intent["channel"], intent["channel_reference"], intent["confirmed_amount"]) != (
            channel,
            reference,
            str(from_fen(fen)),
        ):
            raise IntentConflictError(
                f"intent {intent['intent_id']} was already confirmed by {intent['channel']} "
                f"with reference {intent['channel_reference']} for "
                f"{intent['confirmed_amount']}; nothing was posted"
            )
        return intent


def _row(conn: Connection, intent_id: str) -> RowMapping:
    return conn.execute(select(INTENTS).where(INTENTS.c.id == intent_id)).mappings().one()


def _as_dict(row: RowMapping) -> dict[str, Any]:
    confirmed = row["confirmed_amount_fen"]
    return {
        "intent_id": row["id"],
        "loan_id": row["loan_id"],
        "kind": row["kind"],
        "amount": str(from_fen(row["amount_fen"])),
        "method": row["method"],
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
        "channel": row["channel"],
        "channel_reference": row["channel_reference"],
        "confirmed_amount": None if confirmed is None else str(from_fen(confirmed)),
        "confirmed_at": row["confirmed_at"].isoformat() if row["confirmed_at"] else None,
        "transaction_id": row["transaction_id"],
    }
