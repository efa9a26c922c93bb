"""``LoanService``: a loan from accepted offer to closure, and the one facade callers use.

The lifecycle lives here (accept, cancel, disburse, show, statement); payments
(:mod:`.payments`), reversals (:mod:`.reversals`) and refunds (:mod:`.refunds`) are their own
modules, joined into this one service. Every posting is one unit of work
(:func:`creditgraph.servicing.book.uow.unit_of_work`): the loan locked, the core's processor
planning the posting from typed values, the book applying the plan, committed together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from creditgraph.money import from_fen, to_fen
from creditgraph.servicing import book
from creditgraph.servicing import refunds as refund_service
from creditgraph.servicing.book import controls
from creditgraph.servicing.book import loans as loan_rows
from creditgraph.servicing.book.refunds import listing
from creditgraph.servicing.book.uow import UnitOfWork, reading, unit_of_work
from creditgraph.servicing.core.disbursement import disbursement
from creditgraph.servicing.core.frequency import offer_frequency
from creditgraph.servicing.core.plan import PostingPlan
from creditgraph.servicing.core.values import Instalment, LoanSnapshot
from creditgraph.servicing.daycount import DayCount
from creditgraph.servicing.delinquency import penalty_rate
from creditgraph.servicing.errors import (
    LimitControlError,
    LoanInputError,
    LoanNotFoundError,
    RefundStateError,
)
from creditgraph.servicing.lifecycle import LoanEvent, LoanState, transition
from creditgraph.servicing.model import Method
from creditgraph.servicing.payments import Payment, Payments
from creditgraph.servicing.posting import PostingResult, check_date, check_name
from creditgraph.servicing.reversals import Reversals
from creditgraph.servicing.runner import no_such_loan

__all__ = [
    "LoanService",
    "Payment",
    "PostingResult",
    "RefundStateError",
    "check_name",
]


class LoanService(Payments, Reversals):
    """Loans from accepted offers to closure; every change posts balanced journal lines.

    ``LoanService(engine, config=None, *, hook=None)``: the servicing configuration defaults to
    the installed one; ``hook`` is called at named points of a posting (tests stop a process
    there).
    """

    # ---- lifecycle ----------------------------------------------------------------------------

    def accept(
        self,
        decision_id: str,
        offer_index: int = 0,
        actor: str = "cli",
        *,
        visible_to: str | None = None,
    ) -> dict[str, Any]:
        """A loan from offer ``offer_index`` of approved decision ``decision_id`` (state
        ``accepted``). Accepting the same offer again returns the loan; another offer is
        refused. With ``visible_to``, a decision of another applicant reads as missing."""
        with unit_of_work(self.engine) as uow:
            decision = loan_rows.decision(uow.conn, decision_id)
            if decision is None or (
                visible_to is not None and decision["applicant_ref"] != visible_to
            ):
                raise LoanNotFoundError(f"decision {decision_id}: no such decision")
            existing = loan_rows.loan_of_decision(uow.conn, decision_id)
            if existing is not None:
                if existing["offer_index"] != offer_index:
                    raise LoanInputError(
                        f"decision {decision_id}: already accepted as loan {existing['id']} "
                        f"(offer {existing['offer_index']})"
                    )
                return _show(uow, existing["id"])
            approved = decision["outcome"] == "approve" or loan_rows.review_approved(
                uow.conn, decision_id
            )
            if not approved:
                raise LoanInputError(
                    f"decision {decision_id}: outcome is {decision['outcome']}; only approved "
                    "decisions can be accepted"
                )
            offers = decision["offers"] or []
            if isinstance(offer_index, bool) or not 0 <= offer_index < len(offers):
                raise LoanInputError(
                    f"decision {decision_id}: offer index {offer_index} is out of range "
                    f"(the decision has {len(offers)} offer(s))"
                )
            _check_controls(uow, decision, offer_index)
            loan_id = book.new_id("LN")
            loan_rows.insert(uow.conn, self._loan_row(loan_id, decision, offer_index))
            book.record_event(
                uow.conn, loan_id, LoanState.OFFERED, LoanState.ACCEPTED, LoanEvent.ACCEPT, actor
            )
            return _show(uow, loan_id)

    def _loan_row(self, loan_id: str, decision: Mapping[Any, Any], index: int) -> dict[str, Any]:
        """The loan's row from the accepted offer: the offer carries every term servicing
        needs (an offer stored before it carried its frequency has it read from its due dates)."""
        offer = decision["offers"][index]
        params = self.config.for_product(offer["product_code"])
        rate = Decimal(offer["nominal_rate"])
        rows = offer.get("schedule", {}).get("rows", [])
        fee_per_period = to_fen(Decimal(rows[0]["fee"])) if rows else 0
        at = book.now()
        return {
            "id": loan_id,
            "decision_id": decision["id"],
            "offer_index": index,
            "person_id": decision["person_id"],
            "applicant_ref": decision["applicant_ref"],
            "product_code": offer["product_code"],
            "state": LoanState.ACCEPTED.value,
            "principal_fen": to_fen(Decimal(offer["amount"])),
            "upfront_fee_fen": to_fen(Decimal(offer["upfront_fee"])),
            "fee_per_period_fen": fee_per_period,
            "nominal_rate": str(rate),
            "penalty_rate": str(penalty_rate(rate, params.penalty_multiplier)),
            "all_in_rate": offer.get("all_in_rate"),
            "prepayment_fee_rate": str(Decimal(offer.get("prepayment_fee_rate", "0"))),
            "allocation_order": params.allocation.encode(),
            "method": Method(offer["schedule_type"]).value,
            "frequency": offer_frequency(offer).value,
            "day_count": DayCount.PERIODIC.value,
            "periods": int(offer["term_months"]),
            "credit_fen": 0,
            "schedule_version": 0,
            "dpd": 0,
            "bucket": "M0",
            "npa": False,
            "version": 0,
            "created_at": at,
            "updated_at": at,
        }

    def cancel(self, loan_id: str, actor: str = "cli", note: str | None = None) -> dict[str, Any]:
        """Cancel an offered or accepted loan before disbursement."""
        with unit_of_work(self.engine) as uow:
            loan = uow.lock(loan_id)
            if loan is None:
                raise no_such_loan(loan_id)
            target = transition(loan.state, LoanEvent.CANCEL, loan_id)
            book.update_loan(uow.conn, loan_id, {"state": target.value})
            book.record_event(
                uow.conn, loan_id, loan.state, target, LoanEvent.CANCEL, actor, note=note
            )
            return _show(uow, loan_id)

    def disburse(
        self,
        loan_id: str,
        business_date: date,
        key: str | None = None,
        actor: str = "cli",
        *,
        visible_to: str | None = None,
    ) -> PostingResult:
        """Pay out an accepted loan on ``business_date``; its schedule starts that day."""
        check_date(business_date, loan_id)
        body = {"op": "disburse", "loan": loan_id, "date": business_date.isoformat()}

        def plan_of(_: UnitOfWork, loan: LoanSnapshot, __: Sequence[Instalment]) -> PostingPlan:
            return disbursement(loan, business_date, actor=actor)

        return self._posting(loan_id, key, body, plan_of, visible_to=visible_to)

    # ---- refunds ------------------------------------------------------------------------------

    def approve_refund(
        self, loan_id: str, by: str, business_date: date | None = None
    ) -> dict[str, Any]:
        """An officer (``by``) approves the payout of the refund due on ``loan_id``: Dr
        borrower_credit, Cr cash_clearing, dated ``business_date`` (default: the open business
        date, or the day the refund fell due when no end of day has run). Once only: a second
        approval finds no refund due."""
        with unit_of_work(self.engine) as uow:
            return refund_service.approve(uow, loan_id, by, business_date)

    def refunds(
        self, start: date | None = None, end: date | None = None, loan_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Refunds due, paid or cancelled, due or paid within ``start``..``end``."""
        with reading(self.engine) as uow:
            return listing(uow.conn, start, end, loan_id)

    # ---- reading ------------------------------------------------------------------------------

    def show(self, loan_id: str) -> dict[str, Any]:
        """The loan, its current schedule with what is paid, balances and the all-in rate."""
        with reading(self.engine) as uow:
            return _show(uow, loan_id)

    def statement(self, loan_id: str) -> dict[str, Any]:
        from creditgraph.servicing.ledger import statement

        result: dict[str, Any] = statement(self.engine, loan_id)
        return result


def _check_controls(uow: UnitOfWork, decision: Mapping[Any, Any], index: int) -> None:
    """Refuse an offer that breaks an active limit control set by risk monitoring."""
    control = controls.active(uow.conn, decision["person_id"])
    if control is None:
        return
    alert = f" (alert {control.alert_id})" if control.alert_id else ""
    if control.frozen:
        raise LimitControlError(
            f"decision {decision['id']}: the borrower's credit limit is frozen by risk "
            f"monitoring{alert}; the offer cannot be accepted until the freeze is lifted / "
            "该借款人的授信额度已被风险监控冻结，解除冻结前不能接受此要约"
        )
    amount = to_fen(Decimal(decision["offers"][index]["amount"]))
    if control.cap_fen is not None and amount > control.cap_fen:
        raise LimitControlError(
            f"decision {decision['id']}: offer {index} of {from_fen(amount)} is above the "
            f"limit of {from_fen(control.cap_fen)} set by risk monitoring{alert} / "
            f"该要约金额超过风险监控调低后的授信额度 {from_fen(control.cap_fen)}"
        )


def _show(uow: UnitOfWork, loan_id: str) -> dict[str, Any]:
    loan = uow.loan_row(loan_id)
    if loan is None:
        raise no_such_loan(loan_id)
    rows = uow.current(loan_id)
    schedule = [
        {
            "n": r.number,
            "due_date": r.due_date.isoformat(),
            "principal": str(from_fen(r.principal_due_fen)),
            "interest": str(from_fen(r.interest_due_fen)),
            "fee": str(from_fen(r.fee_due_fen)),
            "paid": str(
                from_fen(
                    r.principal_paid_fen + r.interest_paid_fen + r.fee_paid_fen + r.penalty_paid_fen
                )
            ),
            "penalty": str(from_fen(r.penalty_accrued_fen)),
            "outstanding": str(from_fen(r.owed_fen)),
        }
        for r in rows
    ]
    principal_out = sum(r.principal_left_fen for r in rows)
    return {
        "loan_id": loan["id"],
        "decision_id": loan["decision_id"],
        "applicant_ref": loan["applicant_ref"],
        "offer_index": loan["offer_index"],
        "product_code": loan["product_code"],
        "state": loan["state"],
        "principal": str(from_fen(loan["principal_fen"])),
        "upfront_fee": str(from_fen(loan["upfront_fee_fen"])),
        "nominal_rate": loan["nominal_rate"],
        "penalty_rate": loan["penalty_rate"],
        "all_in_rate": loan["all_in_rate"],
        "prepayment_fee_rate": loan["prepayment_fee_rate"],
        "method": loan["method"],
        "frequency": loan["frequency"],
        "periods": loan["periods"],
        "disbursed_on": _iso(loan["disbursed_on"]),
        "maturity": _iso(loan["maturity"]),
        "closed_on": _iso(loan["closed_on"]),
        "dpd": loan["dpd"],
        "bucket": loan["bucket"],
        "npa": loan["npa"],
        "principal_outstanding": str(from_fen(principal_out)),
        "credit": str(from_fen(loan["credit_fen"])),
        "schedule": schedule,
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
