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

from collections.abc import Mapping
from datetime import date
from typing import Any

from creditgraph.money import from_fen
from creditgraph.servicing import book
from creditgraph.servicing.book import intents as rows
from creditgraph.servicing.book.intents import CONFIRMED, PENDING
from creditgraph.servicing.book.uow import UnitOfWork, WriteConflictError, reading, unit_of_work
from creditgraph.servicing.errors import LoanError, LoanInputError, LoanNotFoundError
from creditgraph.servicing.lifecycle import require_serviced
from creditgraph.servicing.loans import LoanService
from creditgraph.servicing.posting import PostingResult, check_name, parse_amount

METHODS = ("bank_card", "bank_transfer", "alipay", "wechat_pay")


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
        with unit_of_work(self.engine) as uow:
            loan = uow.lock(loan_id)
            if loan is None:
                raise LoanNotFoundError(f"loan {loan_id}: no such loan")
            require_serviced(loan.state, loan_id, "take a repayment intent")
            intent_id = book.new_id("RI")
            rows.insert(
                uow.conn,
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
            found = rows.get(uow.conn, intent_id)
            assert found is not None
            return _as_dict(found)

    def get(self, intent_id: str, key_id: int | None = None) -> dict[str, Any]:
        """The intent; with ``key_id``, only if that API key made it."""
        with reading(self.engine) as uow:
            row = rows.get(uow.conn, intent_id)
        if row is None or (key_id is not None and row["created_by_key_id"] != key_id):
            raise IntentNotFoundError(f"no repayment intent {intent_id}")
        return _as_dict(row)

    def for_loan(self, loan_id: str, key_id: int | None = None) -> list[dict[str, Any]]:
        """A loan's intents, oldest first; with ``key_id``, only that API key's."""
        with reading(self.engine) as uow:
            return [_as_dict(r) for r in rows.of_loan(uow.conn, loan_id, key_id)]

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
        with reading(self.engine) as uow:
            used = rows.by_reference(uow.conn, channel, reference)
        if used == intent_id:  # confirmed meanwhile by a racing confirmation
            return self._same(self.get(intent_id), channel, reference, fen), True
        if used is not None:
            raise IntentConflictError(
                f"channel {channel} reference {reference} already confirmed intent {used}"
            )

        def record(uow: UnitOfWork, result: PostingResult) -> None:
            done = rows.confirm(uow.conn, intent_id, channel, reference, fen, result.transaction_id)
            if not done:
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
        except WriteConflictError:
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


def _as_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
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
