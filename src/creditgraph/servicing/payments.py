"""Payments into a loan: a repayment a payment channel received (one, or a file of them), a
prepayment, and the ceiling a payment may not exceed. Each is the core's processor
(:mod:`.core.repayment`, :mod:`.core.prepay`) over what the book read under the loan's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from creditgraph.servicing.book.outbox import events_at_end
from creditgraph.servicing.book.uow import UnitOfWork, reading, unit_of_work
from creditgraph.servicing.ceiling import Ceiling, ceiling_of
from creditgraph.servicing.core.plan import PostingPlan
from creditgraph.servicing.core.prepay import prepayment
from creditgraph.servicing.core.repayment import Source, check_repayment, repayment
from creditgraph.servicing.core.values import Instalment, LoanSnapshot
from creditgraph.servicing.errors import LoanError, LoanInputError
from creditgraph.servicing.posting import (
    PostingResult,
    check_date,
    check_key,
    check_name,
    parse_amount,
    request_hash,
)
from creditgraph.servicing.prepayment import PrepayMode
from creditgraph.servicing.runner import RETRYABLE, OnPosted, Plan, PostingRunner, no_such_loan

CHUNK = 500  # payments of a batch per commit


@dataclass(frozen=True, slots=True)
class Payment:
    """One repayment of a batch: the loan, the amount received (yuan), its business date, key."""

    loan_id: str
    amount: object
    on: date
    key: str


class Payments(PostingRunner):
    """Repayments and prepayments (the posting half of :class:`LoanService`)."""

    def repay(
        self,
        loan_id: str,
        amount: object,
        business_date: date,
        key: str | None = None,
        actor: str = "cli",
        *,
        channel: str | None = None,
        on_posted: OnPosted | None = None,
        visible_to: str | None = None,
    ) -> PostingResult:
        """Pay ``amount`` (yuan), received through payment ``channel``, against what is due on
        ``business_date`` in the loan's allocation order, oldest due first, with the borrower's
        credit; any excess is held as credit. More than the loan's ceiling that day is refused
        (:class:`OverpaymentError`). With ``visible_to``, a loan whose applicant is not that
        one is refused as missing (checked on the locked row)."""
        body, plan_of = self._repayment(loan_id, amount, business_date, actor, channel)
        return self._posting(
            loan_id,
            key,
            body,
            plan_of,
            owing=True,
            visible_to=visible_to,
            on_posted=on_posted,
        )

    def ceiling(self, loan_id: str, on: date) -> Ceiling:
        """The most a payment to ``loan_id`` may be on ``on`` (see :mod:`servicing.ceiling`)."""
        with reading(self.engine) as uow:
            loan = uow.loan(loan_id)
            if loan is None:
                raise no_such_loan(loan_id)
            return self._ceiling(loan, uow.owing(loan_id), on)

    def _ceiling(self, loan: LoanSnapshot, rows: Sequence[Instalment], on: date) -> Ceiling:
        params = self.config.for_product(loan.product_code)
        return ceiling_of(
            rows, on, loan.prepayment_fee_rate, loan.credit_fen, params.overpayment_tolerance
        )

    def repay_many(
        self,
        payments: Sequence[Payment],
        actor: str = "batch",
        chunk_size: int = CHUNK,
        *,
        channel: str | None = None,
    ) -> list[PostingResult | ValueError]:
        """Post a file of repayments (as a payment channel delivers them), in order.

        Each payment is its own savepoint: one that is refused (bad amount, closed loan, a key
        reused with another body) is rolled back alone and returned as its error, the others
        post. ``chunk_size`` payments share a commit, so a crash loses at most the last chunk,
        whole, and a rerun of the file posts it (the keys of those already in replay). Every key
        is required: a file is retried as a file.
        """
        out: list[PostingResult | ValueError] = []
        for start in range(0, len(payments), chunk_size):
            chunk = payments[start : start + chunk_size]
            with unit_of_work(self.engine) as uow, events_at_end(uow.conn):
                out.extend(self._post_payment(uow, p, actor, channel) for p in chunk)
        return out

    def _post_payment(
        self, uow: UnitOfWork, payment: Payment, actor: str, channel: str | None
    ) -> PostingResult | ValueError:
        """One payment of a batch inside its own savepoint of the batch's transaction."""
        try:
            key = check_key(payment.key)
            body, plan_of = self._repayment(
                payment.loan_id, payment.amount, payment.on, actor, channel
            )
        except LoanError as exc:
            return exc
        digest = request_hash(body)
        try:
            return uow.attempt(
                lambda: self._post_in(uow, payment.loan_id, key, digest, plan_of, owing=True)
            )
        except RETRYABLE as exc:
            try:
                seen = self._replay_in(uow, key, digest)
            except LoanError as conflict:
                return conflict
            if seen is not None:
                return seen
            if isinstance(exc, ValueError):
                return exc  # a refusal that names the loan, field and rule
            return LoanInputError(f"loan {payment.loan_id}: refused by the database")

    def _repayment(
        self, loan_id: str, amount: object, business_date: date, actor: str, channel: str | None
    ) -> tuple[dict[str, object], Plan]:
        """The request body (what the idempotency key vouches for) and the posting's plan."""
        amount_fen = parse_amount(amount, loan_id)
        check_date(business_date, loan_id)
        body: dict[str, object] = {
            "op": "repay",
            "loan": loan_id,
            "amount": amount_fen,
            "date": business_date.isoformat(),
        }
        config = self.config

        def plan_of(
            uow: UnitOfWork, loan: LoanSnapshot, owing: Sequence[Instalment]
        ) -> PostingPlan:
            tolerance = config.for_product(loan.product_code).overpayment_tolerance
            closed = check_repayment(loan, owing, amount_fen, business_date, tolerance)
            named = _channel(channel)
            plan = repayment(
                loan,
                owing,
                business_date,
                source=Source.CHANNEL,
                actor=actor,
                cash_fen=amount_fen,
                channel=named,
                closed_through=closed,
            )
            assert plan is not None  # a channel's payment always moves its cash
            return plan

        return body, plan_of

    def prepay(
        self,
        loan_id: str,
        business_date: date,
        *,
        amount: object | None = None,
        full: bool = False,
        mode: PrepayMode | str = PrepayMode.SHORTER_TERM,
        key: str | None = None,
        actor: str = "cli",
        channel: str | None = None,
        visible_to: str | None = None,
    ) -> PostingResult:
        """Prepay ``amount`` of principal (yuan), or all of it with ``full``, on ``business_date``,
        the cash received through payment ``channel``.

        Everything due is paid first; then the prepaid principal, its interest accrued to the day
        (never interest not yet earned) and the product's prepayment fee. The borrower's credit
        is used first; the posting's amount is the cash taken. A partial prepayment reschedules
        the remainder (``shorter_term`` keeps the instalment, ``lower_instalment`` the maturity).
        """
        check_date(business_date, loan_id)
        try:
            mode = PrepayMode(mode)
        except ValueError:
            raise LoanInputError(
                f"loan {loan_id}: mode {mode!r} must be shorter_term or lower_instalment"
            ) from None
        if full == (amount is not None):
            raise LoanInputError(f"loan {loan_id}: give either an amount of principal or full")
        principal_fen = None if amount is None else parse_amount(amount, loan_id)
        body = {
            "op": "prepay",
            "loan": loan_id,
            "amount": principal_fen,
            "full": full,
            "mode": mode.value,
            "date": business_date.isoformat(),
        }
        chosen = mode

        def plan_of(uow: UnitOfWork, loan: LoanSnapshot, _: Sequence[Instalment]) -> PostingPlan:
            rows = uow.current(loan.id)
            plan = prepayment(
                loan, rows, business_date, principal_fen, chosen, actor=actor, channel=channel
            )
            _channel(channel)
            return plan

        return self._posting(loan_id, key, body, plan_of, visible_to=visible_to)


def _channel(channel: str | None) -> str | None:
    """The payment channel's name, checked inside the posting after the loan's own checks (as
    every posting input of a payment is), so a rerun of a file with a bad name still replays
    what was posted under its keys and refuses the rest entry by entry."""
    return None if channel is None else check_name(channel, "channel")
