"""``LoanService``: accept, disburse, repay, prepay, reverse, refund, show and statement.

Each posting is one write unit of work (:func:`creditgraph.store.db.write_transaction`): lock the loan, check
the idempotency key, read the instalments in one query, change them with one batched update,
write the transaction and its balanced journal lines, commit. Core statements only, so the path
stays a handful of round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Engine, RowMapping, and_, bindparam, delete, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from creditgraph.decision.config_files import load_catalogue
from creditgraph.decision.products import Catalogue
from creditgraph.money import from_fen, to_fen
from creditgraph.servicing import book, refunds
from creditgraph.servicing.accounts import Account, Line
from creditgraph.servicing.allocation import AllocationRule
from creditgraph.servicing.apr import schedule_all_in_rate
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.ceiling import Ceiling, OverpaymentError, ceiling_of
from creditgraph.servicing.config import ServicingConfig
from creditgraph.servicing.config_file import load_servicing_config
from creditgraph.servicing.daycount import DayCount
from creditgraph.servicing.delinquency import bucket, daily_basis, penalty_rate
from creditgraph.servicing.errors import (
    IdempotencyConflictError,
    LoanError,
    LoanInputError,
    LoanNotFoundError,
    ScheduleError,
)
from creditgraph.servicing.lifecycle import (
    LoanEvent,
    LoanState,
    LoanStateError,
    require_serviced,
    transition,
)
from creditgraph.servicing.model import Method, ScheduleRequest
from creditgraph.servicing.posting import (
    BY_KEY,
    REVERSIBLE,
    SUPERSEDE,
    K,
    Lines,
    PostingResult,
    Row,
    Settlement,
    apply_deltas,
    arrears_status,
    catch_up_penalty,
    check_date,
    check_key,
    owed,
    parse_amount,
    position,
    post_refund,
    request_hash,
    reversible,
    settle,
)
from creditgraph.servicing.prepayment import (
    PrepayMode,
    Terms,
    fee_fen,
    prorata_fen,
    reschedule,
    share_fen,
)
from creditgraph.servicing.schedules import generate_schedule
from creditgraph.store.db import write_transaction
from creditgraph.store.models import DecisionRecord, ReviewRequest, table_of

DECISIONS = table_of(DecisionRecord)
REVIEWS = table_of(ReviewRequest)
LOANS, INSTALMENTS, TRANSACTIONS = book.LOANS, book.INSTALMENTS, book.TRANSACTIONS
REVERSIBLE_STATES = frozenset({LoanState.ACTIVE, LoanState.OVERDUE, LoanState.CLOSED})
"""States in which a payment can be reversed (a closed loan is reopened by it)."""

# The latest repayment or prepayment of a loan posted after a given one and not reversed.
_LATER_PAYMENT = (
    select(TRANSACTIONS.c.id)
    .where(
        TRANSACTIONS.c.loan_id == bindparam("loan_id"),
        TRANSACTIONS.c.kind.in_(sorted(REVERSIBLE)),
        TRANSACTIONS.c.reversed_by.is_(None),
        TRANSACTIONS.c.id != bindparam("tx_id"),
        or_(
            TRANSACTIONS.c.created_at > bindparam("created_at"),
            and_(
                TRANSACTIONS.c.created_at == bindparam("created_at"),
                TRANSACTIONS.c.id > bindparam("tx_id"),
            ),
        ),
    )
    .order_by(TRANSACTIONS.c.created_at.desc(), TRANSACTIONS.c.id.desc())
    .limit(1)
)
# The first completed end of day started after a given instant.
_FIRST_RUN_SINCE = (
    select(book.EOD_RUNS.c.business_date)
    .where(book.EOD_RUNS.c.status == "completed", book.EOD_RUNS.c.started_at >= bindparam("at"))
    .order_by(book.EOD_RUNS.c.business_date)
    .limit(1)
)
_ADD_PENALTY = (
    update(INSTALMENTS)
    .where(INSTALMENTS.c.id == bindparam("row_id"))
    .values(
        penalty_accrued_fen=INSTALMENTS.c.penalty_accrued_fen + bindparam("d_accrued"),
        penalty_memo_fen=INSTALMENTS.c.penalty_memo_fen + bindparam("d_memo"),
    )
)


OWING = "_owing_rows"  # key of the prefetched owing instalments in a repayment's loan mapping
CURRENT: dict[str, Any] = {"dpd": 0, "bucket": "M0", "overdue_since": None, "npa": False}
"""The delinquency columns of a loan with nothing past due."""
PostFn = Callable[[Connection, RowMapping, str, str], PostingResult]
OnPosted = Callable[[Connection, PostingResult], None]
"""Called in the posting's own transaction after it is written (a confirmed intent records it)."""
CHUNK = 500  # payments of a batch per commit


@dataclass(frozen=True, slots=True)
class Payment:
    """One repayment of a batch: the loan, the amount received (yuan), its business date, key."""

    loan_id: str
    amount: object
    on: date
    key: str


class LoanService:
    """Loans from accepted offers to closure; every change posts balanced journal lines."""

    def __init__(
        self,
        engine: Engine,
        catalogue: Catalogue | None = None,
        config: ServicingConfig | None = None,
        *,
        hook: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.catalogue = catalogue or load_catalogue()
        self.config = config or load_servicing_config()
        # Called between the loan change and the journal insert ("before_journal"), so tests can
        # stop a process there and prove nothing partial is left.
        self._hook = hook

    # ---- lifecycle ----------------------------------------------------------------------------

    def accept(self, decision_id: str, offer_index: int = 0, actor: str = "cli") -> dict[str, Any]:
        """A loan from offer ``offer_index`` of approved decision ``decision_id`` (state
        ``accepted``). Accepting the same offer again returns the loan; another offer is refused."""
        with write_transaction(self.engine) as conn:
            decision = (
                conn.execute(select(DECISIONS).where(DECISIONS.c.id == decision_id))
                .mappings()
                .first()
            )
            if decision is None:
                raise LoanNotFoundError(f"decision {decision_id}: no such decision")
            existing = (
                conn.execute(select(LOANS).where(LOANS.c.decision_id == decision_id))
                .mappings()
                .first()
            )
            if existing is not None:
                if existing["offer_index"] != offer_index:
                    raise LoanInputError(
                        f"decision {decision_id}: already accepted as loan {existing['id']} "
                        f"(offer {existing['offer_index']})"
                    )
                return self._show(conn, existing["id"])
            if not self._approved(conn, decision):
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
            loan_id = book.new_id("LN")
            conn.execute(LOANS.insert(), self._loan_row(loan_id, decision, offer_index))
            book.record_event(
                conn, loan_id, LoanState.OFFERED, LoanState.ACCEPTED, LoanEvent.ACCEPT, actor
            )
            return self._show(conn, loan_id)

    @staticmethod
    def _approved(conn: Connection, decision: RowMapping) -> bool:
        if decision["outcome"] == "approve":
            return True
        reviewed = conn.execute(
            select(REVIEWS.c.id).where(
                REVIEWS.c.decision_id == decision["id"], REVIEWS.c.status == "approved"
            )
        ).first()
        return reviewed is not None

    def _loan_row(self, loan_id: str, decision: RowMapping, index: int) -> dict[str, Any]:
        offer = decision["offers"][index]
        product = self.catalogue.get(offer["product_code"])
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
            "frequency": (product.frequency if product else Frequency.MONTHLY).value,
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
        with write_transaction(self.engine) as conn:
            loan = self._lock(conn, loan_id)
            target = transition(loan["state"], LoanEvent.CANCEL, loan_id)
            book.update_loan(conn, loan_id, {"state": target.value})
            book.record_event(
                conn, loan_id, loan["state"], target, LoanEvent.CANCEL, actor, note=note
            )
            return self._show(conn, loan_id)

    def _lock(self, conn: Connection, loan_id: str, owing: bool = False) -> RowMapping:
        """The locked loan row; with ``owing``, a copy that also carries its owing instalments
        under ``OWING`` (one round trip instead of two on the repayment path)."""
        if not owing:
            loan = book.lock_loan(conn, loan_id)
        else:
            loan, rows = book.lock_loan_with_owing(conn, loan_id)
            if loan is not None:
                loan = cast(RowMapping, {**loan, OWING: rows})
        if loan is None:
            raise LoanNotFoundError(f"loan {loan_id}: no such loan")
        return loan

    # ---- postings -----------------------------------------------------------------------------

    def _posting(
        self,
        loan_id: str,
        key: str | None,
        body: dict[str, Any],
        post: PostFn,
        owing: bool = False,
    ) -> PostingResult:
        """Run ``post`` in one write unit of work under the loan lock (with the owing
        instalments read in the same round trip, for a repayment).

        The key is checked by the database (a unique column), not by a query first: the happy
        path stays one statement shorter. A posting refused, or stopped by the unique key, is
        rolled back and then looked up by key, so a retry gets the first result and a reused key
        with another body gets :class:`IdempotencyConflictError`.
        """
        key = check_key(key)
        digest = request_hash(body)
        try:
            with write_transaction(self.engine) as conn:
                return post(conn, self._lock(conn, loan_id, owing), key, digest)
        except (IntegrityError, LoanError, LoanStateError, ScheduleError):
            with self.engine.connect() as conn:
                seen = self._replay(conn, key, digest)
            if seen is None:
                raise
            return seen

    def _replay(self, conn: Connection, key: str, digest: str) -> PostingResult | None:
        row = conn.execute(BY_KEY, {"key": key}).mappings().first()
        if row is None:
            return None
        if row["request_sha256"] != digest:
            raise IdempotencyConflictError(
                f"idempotency key {key!r} was used for a different request "
                f"({row['kind']} on loan {row['loan_id']}); nothing was posted"
            )
        detail = row["detail"]
        return PostingResult(
            transaction_id=row["id"],
            loan_id=row["loan_id"],
            kind=row["kind"],
            idempotency_key=key,
            amount=from_fen(row["amount_fen"]),
            business_date=row["business_date"],
            state=detail.get("state_after", ""),
            replayed=True,
            detail=detail,
        )

    def _write(
        self,
        conn: Connection,
        loan: RowMapping,
        kind: book.TransactionKind,
        business_date: date,
        lines: list[Line],
        detail: dict[str, Any],
        key: str,
        digest: str,
        amount_fen: int,
        loan_values: dict[str, Any],
        *,
        reversal_of: str | None = None,
        event: tuple[LoanState, LoanState, LoanEvent] | None = None,
    ) -> PostingResult:
        """Loan change, hook, journal, event: the tail every posting shares."""
        loan_id = loan["id"]
        tx_id = book.new_id("TX")
        detail["version_after"] = loan["version"] + 1
        book.update_loan(conn, loan_id, loan_values)
        if self._hook is not None:
            self._hook("before_journal")
        book.post_lines(
            conn,
            loan_id,
            kind,
            business_date,
            lines,
            "service" if not detail.get("actor") else str(detail["actor"]),
            detail,
            amount_fen=amount_fen,
            idempotency_key=key,
            request_sha256=digest,
            reversal_of=reversal_of,
            transaction_id=tx_id,
        )
        if event is not None:
            book.record_event(
                conn,
                loan_id,
                event[0],
                event[1],
                event[2],
                str(detail.get("actor", "service")),
                transaction_id=tx_id,
            )
        return PostingResult(
            tx_id,
            loan_id,
            kind.value,
            key,
            from_fen(amount_fen),
            business_date,
            detail["state_after"],
            False,
            detail,
        )

    def disburse(
        self, loan_id: str, business_date: date, key: str | None = None, actor: str = "cli"
    ) -> PostingResult:
        """Pay out an accepted loan on ``business_date``; its schedule starts that day."""
        check_date(business_date, loan_id)
        body = {"op": "disburse", "loan": loan_id, "date": business_date.isoformat()}

        def post(conn: Connection, loan: RowMapping, key: str, digest: str) -> PostingResult:
            target = transition(loan["state"], LoanEvent.DISBURSE, loan_id)
            book.check_open_date(conn, loan_id, business_date, "disbursement", loan)
            request = ScheduleRequest(
                principal=from_fen(loan["principal_fen"]),
                annual_rate=Decimal(loan["nominal_rate"]),
                periods=loan["periods"],
                method=Method(loan["method"]),
                start=business_date,
                frequency=Frequency(loan["frequency"]),
                day_count=DayCount(loan["day_count"]),
                upfront_fee=from_fen(loan["upfront_fee_fen"]),
                fee_per_period=from_fen(loan["fee_per_period_fen"]),
            )
            schedule = generate_schedule(request)
            starts = [business_date, *(row.due_date for row in schedule.rows[:-1])]
            conn.execute(
                INSTALMENTS.insert(),
                [
                    {
                        "loan_id": loan_id,
                        "number": row.n,
                        "due_date": row.due_date,
                        "period_start": start,
                        "principal_due_fen": to_fen(row.principal),
                        "interest_due_fen": to_fen(row.interest),
                        "fee_due_fen": to_fen(row.fee),
                        "principal_paid_fen": 0,
                        "interest_paid_fen": 0,
                        "fee_paid_fen": 0,
                        "interest_accrued_fen": 0,
                        "penalty_accrued_fen": 0,
                        "penalty_paid_fen": 0,
                        "penalty_memo_fen": 0,
                        "superseded": False,
                        "schedule_version": 0,
                    }
                    for row, start in zip(schedule.rows, starts, strict=True)
                ],
            )
            principal, fee = loan["principal_fen"], loan["upfront_fee_fen"]
            out = Lines()
            out.dr(Account.LOANS_RECEIVABLE, principal)
            out.cr(Account.CASH_CLEARING, principal - fee)
            out.cr(Account.FEE_INCOME, fee)
            all_in = schedule_all_in_rate(schedule)
            detail = {
                "actor": actor,
                "state_before": loan["state"],
                "state_after": target.value,
                "net_disbursed_fen": principal - fee,
                "upfront_fee_fen": fee,
                "all_in_rate": str(all_in),
            }
            values = {
                "state": target.value,
                "start_date": business_date,
                "disbursed_on": business_date,
                "first_due": schedule.rows[0].due_date,
                "maturity": schedule.rows[-1].due_date,
                "all_in_rate": str(all_in),
            }
            return self._write(
                conn,
                loan,
                K.DISBURSEMENT,
                business_date,
                out.lines(),
                detail,
                key,
                digest,
                principal,
                values,
                event=(LoanState(loan["state"]), target, LoanEvent.DISBURSE),
            )

        return self._posting(loan_id, key, body, post)

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
    ) -> PostingResult:
        """Pay ``amount`` (yuan), received through payment ``channel``, against what is due on
        ``business_date`` in the loan's allocation order, oldest due first, with the borrower's
        credit; any excess is held as credit. More than the loan's ceiling that day is refused
        (:class:`OverpaymentError`)."""
        body, post = self._repayment(loan_id, amount, business_date, actor, channel)
        if on_posted is not None:
            inner = post

            def post(conn: Connection, loan: RowMapping, key: str, digest: str) -> PostingResult:
                result = inner(conn, loan, key, digest)
                on_posted(conn, result)
                return result

        return self._posting(loan_id, key, body, post, owing=True)

    def ceiling(self, loan_id: str, on: date) -> Ceiling:
        """The most a payment to ``loan_id`` may be on ``on`` (see :mod:`servicing.ceiling`)."""
        with self.engine.connect() as conn:
            loan = conn.execute(select(LOANS).where(LOANS.c.id == loan_id)).mappings().first()
            if loan is None:
                raise LoanNotFoundError(f"loan {loan_id}: no such loan")
            return self._ceiling(loan, book.owing_rows(conn, loan_id), on)

    def _ceiling(self, loan: RowMapping, rows: Sequence[Row], on: date) -> Ceiling:
        params = self.config.for_product(loan["product_code"])
        return ceiling_of(
            rows,
            on,
            Decimal(loan["prepayment_fee_rate"]),
            loan["credit_fen"],
            params.overpayment_tolerance,
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
            with write_transaction(self.engine) as conn:
                out.extend(self._post_payment(conn, p, actor, channel) for p in chunk)
        return out

    def _post_payment(
        self, conn: Connection, payment: Payment, actor: str, channel: str | None
    ) -> PostingResult | ValueError:
        """One payment of a batch inside its own savepoint of the batch's transaction."""
        try:
            key = check_key(payment.key)
            body, post = self._repayment(
                payment.loan_id, payment.amount, payment.on, actor, channel
            )
        except LoanError as exc:
            return exc
        digest = request_hash(body)
        # A plain SAVEPOINT on the driver: SQLAlchemy's nested-transaction object costs more
        # than the statement, and this runs once per payment of a file.
        conn.exec_driver_sql("SAVEPOINT payment")
        try:
            result = post(conn, self._lock(conn, payment.loan_id, owing=True), key, digest)
        except (IntegrityError, LoanError, LoanStateError, ScheduleError) as exc:
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT payment")
            conn.exec_driver_sql("RELEASE SAVEPOINT payment")
            try:
                seen = self._replay(conn, key, digest)
            except LoanError as conflict:
                return conflict
            if seen is not None:
                return seen
            if isinstance(exc, ValueError):
                return exc  # a refusal that names the loan, field and rule
            return LoanInputError(f"loan {payment.loan_id}: refused by the database")
        conn.exec_driver_sql("RELEASE SAVEPOINT payment")
        return result

    def _repayment(
        self, loan_id: str, amount: object, business_date: date, actor: str, channel: str | None
    ) -> tuple[dict[str, Any], PostFn]:
        """The request body (what the idempotency key vouches for) and the posting itself."""
        amount_fen = parse_amount(amount, loan_id)
        check_date(business_date, loan_id)
        body = {
            "op": "repay",
            "loan": loan_id,
            "amount": amount_fen,
            "date": business_date.isoformat(),
        }

        def post(conn: Connection, loan: RowMapping, key: str, digest: str) -> PostingResult:
            state = require_serviced(loan["state"], loan_id, "take a repayment")
            self._not_before_disbursement(loan, business_date)
            closed = book.check_open_date(conn, loan_id, business_date, "repayment", loan)
            rows = loan[OWING] if OWING in loan else book.owing_rows(conn, loan_id)
            ceiling = self._ceiling(loan, rows, business_date)
            if amount_fen > ceiling.most_fen:
                raise OverpaymentError(loan_id, ceiling)
            due = [r for r in rows if r["due_date"] <= business_date]
            credit_before = loan["credit_fen"]
            out = Settlement()
            left = settle(
                due,
                amount_fen + credit_before,
                AllocationRule.decode(loan["allocation_order"]),
                out,
            )
            out.lines.dr(Account.CASH_CLEARING, amount_fen)
            self._credit_lines(out.lines, credit_before, left)
            return self._finish_payment(
                conn,
                loan,
                state,
                K.REPAYMENT,
                due,
                out,
                business_date,
                key,
                digest,
                amount_fen,
                left,
                actor,
                extra={"open_date": _open_date(closed, business_date), **_channel(channel)},
                more_to_come=loan["maturity"] is None or loan["maturity"] > business_date,
            )

        return body, post

    @staticmethod
    def _credit_lines(lines: Lines, before: int, after: int) -> None:
        if after > before:
            lines.cr(Account.BORROWER_CREDIT, after - before)
        else:
            lines.dr(Account.BORROWER_CREDIT, before - after)

    @staticmethod
    def _not_before_disbursement(loan: RowMapping, business_date: date) -> None:
        if loan["disbursed_on"] is not None and business_date < loan["disbursed_on"]:
            raise LoanInputError(
                f"loan {loan['id']}: business date {business_date} is before the disbursement "
                f"on {loan['disbursed_on']}"
            )

    def _finish_payment(
        self,
        conn: Connection,
        loan: RowMapping,
        state: LoanState,
        kind: book.TransactionKind,
        rows: Sequence[RowMapping],
        out: Settlement,
        business_date: date,
        key: str,
        digest: str,
        amount_fen: int,
        credit_after: int,
        actor: str,
        extra: dict[str, Any],
        closes: bool | None = None,
        new_rows: Sequence[Row] = (),
        more_to_come: bool = False,
    ) -> PostingResult:
        """Apply the deltas, settle the state (closed, cured), write. ``rows`` must include every
        unsettled current row, or ``more_to_come`` says that rows not given fall due later.
        A posting that closes the loan with credit left records a refund due (the credit stays
        until an officer approves its payout, :meth:`approve_refund`)."""
        apply_deltas(conn, out.deltas.values())
        settled_all, arrears = position(
            rows, out.deltas, extra.get("superseded", ()), new_rows, business_date
        )
        if closes is None:
            closes = settled_all and not more_to_come
        values: dict[str, Any] = {"credit_fen": credit_after}
        event: tuple[LoanState, LoanState, LoanEvent] | None = None
        target = state
        refund_due = 0
        if closes:
            target = transition(state, LoanEvent.REPAY_IN_FULL, loan["id"])
            # A closed loan is current: no days past due, no bucket, no NPA flag left behind
            # (the reversal restores them from ``restore``).
            values.update(state=target.value, closed_on=business_date, **CURRENT)
            event = (state, target, LoanEvent.REPAY_IN_FULL)
            refund_due = credit_after
        elif state is LoanState.OVERDUE and not arrears:
            target = transition(state, LoanEvent.CURE, loan["id"])
            values.update(state=target.value, dpd=0, bucket="M0", overdue_since=None)
            event = (state, target, LoanEvent.CURE)
        detail: dict[str, Any] = {
            "actor": actor,
            "state_before": state.value,
            "state_after": target.value,
            "restore": {
                "dpd": loan["dpd"],
                "bucket": loan["bucket"],
                "overdue_since": loan["overdue_since"].isoformat()
                if loan["overdue_since"]
                else None,
                "closed_on": None,
                "maturity": loan["maturity"].isoformat() if loan["maturity"] else None,
                "schedule_version": loan["schedule_version"],
                "npa": bool(loan["npa"]),
            },
            "paid": out.paid,
            "credit_before_fen": loan["credit_fen"],
            "credit_after_fen": credit_after,
            "deltas": list(out.deltas.values()),
            **extra,
        }
        if refund_due:
            detail["refund_due"] = str(from_fen(refund_due))
        values.update(extra.pop("loan_values", {}))
        detail.pop("loan_values", None)
        result = self._write(
            conn,
            loan,
            kind,
            business_date,
            out.lines.lines(),
            detail,
            key,
            digest,
            amount_fen,
            values,
            event=event,
        )
        if refund_due:
            refunds.record_due(conn, loan["id"], refund_due, business_date, result.transaction_id)
        return result

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

        def post(conn: Connection, loan: RowMapping, key: str, digest: str) -> PostingResult:
            return self._prepay(
                conn, loan, business_date, principal_fen, mode, key, digest, actor, channel
            )

        return self._posting(loan_id, key, body, post)

    def _prepay(
        self,
        conn: Connection,
        loan: RowMapping,
        on: date,
        principal_fen: int | None,
        mode: PrepayMode,
        key: str,
        digest: str,
        actor: str,
        channel: str | None = None,
    ) -> PostingResult:
        loan_id = loan["id"]
        state = require_serviced(loan["state"], loan_id, "take a prepayment")
        self._not_before_disbursement(loan, on)
        closed = book.check_open_date(conn, loan_id, on, "prepayment", loan)
        rows = book.current_instalments(conn, loan_id)
        due = [r for r in rows if r["due_date"] <= on]
        future = [r for r in rows if r["due_date"] > on]
        outstanding = sum(r["principal_due_fen"] - r["principal_paid_fen"] for r in future)
        if not future or outstanding <= 0:
            raise LoanInputError(
                f"loan {loan_id}: nothing is left to prepay on {on}; pay what is due with repay"
            )
        paid_ahead = [
            r["number"]
            for r in future
            if r["principal_paid_fen"] or r["interest_paid_fen"] or r["fee_paid_fen"]
        ]
        if paid_ahead:
            raise LoanInputError(
                f"loan {loan_id}: instalment {paid_ahead[0]} (due after {on}) already has "
                "payments; a prepayment cannot be dated before them"
            )
        prepaid = outstanding if principal_fen is None else principal_fen
        if prepaid > outstanding:
            raise LoanInputError(
                f"loan {loan_id}: amount {from_fen(prepaid)} is more than the principal not yet "
                f"due ({from_fen(outstanding)}); prepay in full instead"
            )
        full = prepaid == outstanding
        out = Settlement()
        arrears = sum(owed(r) for r in due)
        left = settle(due, arrears, AllocationRule.decode(loan["allocation_order"]), out)
        assert left == 0

        current = future[0]
        target_interest = prorata_fen(
            current["interest_due_fen"], current["period_start"], current["due_date"], on
        )
        accrued_unpaid = current["interest_accrued_fen"] - current["interest_paid_fen"]
        interest = target_interest if full else share_fen(target_interest, prepaid, outstanding)
        if full:
            interest = max(interest, accrued_unpaid)
        fee = fee_fen(prepaid, Decimal(loan["prepayment_fee_rate"]))
        new_rows: list[Row] = []
        created: list[int] = []
        carry = 0
        if not full:
            terms = Terms(
                rate=Decimal(loan["nominal_rate"]),
                method=Method(loan["method"]),
                frequency=Frequency(loan["frequency"]),
                day_count=DayCount(loan["day_count"]),
                fee_per_period_fen=loan["fee_per_period_fen"],
            )
            try:
                planned = reschedule(
                    outstanding - prepaid,
                    terms,
                    current["period_start"],
                    [r["due_date"] for r in future],
                    current["number"],
                    mode,
                    current["principal_due_fen"] + current["interest_due_fen"],
                    current["principal_due_fen"],
                )
            except ScheduleError as exc:
                raise LoanInputError(f"loan {loan_id}: {exc}") from None
            carry = max(0, accrued_unpaid - min(accrued_unpaid, interest))
            if carry > planned[0].interest_fen:
                interest += carry - planned[0].interest_fen
                carry = planned[0].interest_fen
            version = loan["schedule_version"] + 1
            inserted = [
                {
                    "loan_id": loan_id,
                    "number": r.number,
                    "due_date": r.due_date,
                    "period_start": r.period_start,
                    "principal_due_fen": r.principal_fen,
                    "interest_due_fen": r.interest_fen,
                    "fee_due_fen": r.fee_fen,
                    "principal_paid_fen": 0,
                    "interest_paid_fen": 0,
                    "fee_paid_fen": 0,
                    "interest_accrued_fen": carry if k == 0 else 0,
                    "penalty_accrued_fen": 0,
                    "penalty_paid_fen": 0,
                    "penalty_memo_fen": 0,
                    "superseded": False,
                    "schedule_version": version,
                }
                for k, r in enumerate(planned)
            ]
            conn.execute(INSTALMENTS.insert(), inserted)
            new_rows = list(
                conn.execute(
                    select(INSTALMENTS).where(
                        INSTALMENTS.c.loan_id == loan_id,
                        INSTALMENTS.c.schedule_version == version,
                    )
                ).mappings()
            )
            created = [r["id"] for r in new_rows]
        # Interest on the prepaid principal to the day: use what was accrued, accrue the rest.
        d = out.delta(current["id"])
        used = min(accrued_unpaid, interest)
        extra_accrual = interest - used
        d[2] += interest
        d[5] += extra_accrual - carry
        out.lines.dr(Account.INTEREST_RECEIVABLE, extra_accrual)
        out.lines.cr(Account.INTEREST_INCOME, extra_accrual)
        out.lines.cr(Account.INTEREST_RECEIVABLE, interest)
        out.lines.cr(Account.LOANS_RECEIVABLE, prepaid)
        out.lines.cr(Account.FEE_INCOME, fee)
        out.paid["prepaid_principal"] = prepaid
        out.paid["prepayment_interest"] = interest
        out.paid["prepayment_fee"] = fee

        total = arrears + prepaid + interest + fee
        credit_before = loan["credit_fen"]
        credit_used = min(credit_before, total)
        cash = total - credit_used
        out.lines.dr(Account.CASH_CLEARING, cash)
        out.lines.dr(Account.BORROWER_CREDIT, credit_used)
        superseded = [r["id"] for r in future]
        conn.execute(SUPERSEDE, [{"row_id": i, "flag": True} for i in superseded])
        loan_values: dict[str, Any] = {}
        if new_rows:
            loan_values = {
                "schedule_version": loan["schedule_version"] + 1,
                "maturity": new_rows[-1]["due_date"],
            }
        extra: dict[str, Any] = {
            "mode": mode.value,
            "full": full,
            "superseded": superseded,
            "created": created,
            "loan_values": loan_values,
            "total_fen": total,
            "open_date": _open_date(closed, on),
            **_channel(channel),
        }
        return self._finish_payment(
            conn,
            loan,
            state,
            K.PREPAYMENT,
            rows,
            out,
            on,
            key,
            digest,
            cash,
            credit_before - credit_used,
            actor,
            extra,
            closes=full,
            new_rows=new_rows,
        )

    def reverse(
        self,
        transaction_id: str,
        key: str | None = None,
        business_date: date | None = None,
        actor: str = "cli",
        note: str | None = None,
        loan_id: str | None = None,
    ) -> PostingResult:
        """Reverse a repayment or prepayment: the mirror of its lines, its allocation undone and
        the loan's state restored. Refused (nothing posted) when a later posting depends on it,
        or, given ``loan_id``, when the transaction is not that loan's."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(TRANSACTIONS.c.loan_id).where(TRANSACTIONS.c.id == transaction_id)
            ).first()
        if found is None or (loan_id is not None and found[0] != loan_id):
            owner = f"loan {loan_id} has no" if loan_id is not None else "no such"
            raise LoanNotFoundError(f"{owner} transaction {transaction_id}")
        loan_id = found[0]
        body = {
            "op": "reverse",
            "transaction": transaction_id,
            "date": business_date.isoformat() if business_date else None,
        }

        def post(conn: Connection, loan: RowMapping, key: str, digest: str) -> PostingResult:
            return self._reverse(
                conn, loan, transaction_id, key, digest, business_date, actor, note
            )

        return self._posting(loan_id, key, body, post)

    def _reverse(
        self,
        conn: Connection,
        loan: RowMapping,
        tx_id: str,
        key: str,
        digest: str,
        business_date: date | None,
        actor: str,
        note: str | None,
    ) -> PostingResult:
        loan_id = loan["id"]
        tx = conn.execute(select(TRANSACTIONS).where(TRANSACTIONS.c.id == tx_id)).mappings().one()
        state = self._check_reversible(conn, loan, tx)
        detail = tx["detail"]
        last = book.closed_through(conn, loan)
        on = self._reversal_date(loan_id, tx, business_date, last)
        # Postings from before refunds needed an officer carry the payout they made.
        refund = int(detail.get("refund_fen", 0))
        self._cancel_refund_due(conn, loan_id, tx_id, detail)
        credit_after = (
            loan["credit_fen"] + refund - (detail["credit_after_fen"] - detail["credit_before_fen"])
        )
        if credit_after < 0:
            raise LoanInputError(
                f"transaction {tx_id}: loan {loan_id}'s credit from it has been used by a later "
                "posting; reverse that first"
            )
        deltas = detail["deltas"]
        rows = self._undo_rows(conn, loan_id, tx, deltas)
        apply_deltas(conn, deltas, sign=-1)
        target = state
        values: dict[str, Any] = {"credit_fen": credit_after}
        events: list[tuple[LoanState, LoanState, LoanEvent]] = []
        undone = {d[0]: [d[0], *(-x for x in d[1:])] for d in deltas}
        settled_after, _ = position(list(rows.values()), undone, (), (), on)
        if state is LoanState.CLOSED and not settled_after:
            target = transition(state, LoanEvent.REOPEN, loan_id)
            events.append((state, target, LoanEvent.REOPEN))
            values.update(closed_on=None)
        catch_up_id = book.new_id("TX")
        catch_up: dict[str, Any] = {}
        if last is None:
            target = self._restore_status(loan_id, detail, target, values, events)
        else:
            target, catch_up = self._status_after_eod(
                conn, loan, tx, deltas, last, target, values, events
            )
        if tx["kind"] == K.PREPAYMENT.value:
            restore = detail["restore"]
            values.update(
                schedule_version=restore["schedule_version"],
                maturity=date.fromisoformat(restore["maturity"]) if restore["maturity"] else None,
            )
        values["state"] = target.value
        lines = [
            Line(Account(r["account"]), r["credit_fen"], r["debit_fen"])
            for r in book.transaction_lines(conn, tx_id)
        ]
        if refund:
            lines += [
                Line(Account.CASH_CLEARING, debit_fen=refund),
                Line(Account.BORROWER_CREDIT, credit_fen=refund),
            ]
        new_detail: dict[str, Any] = {
            "actor": actor,
            "note": note,
            "state_before": state.value,
            "state_after": target.value,
            "reversal_of": tx_id,
            "value_date": tx["business_date"].isoformat(),
            "credit_before_fen": loan["credit_fen"],
            "credit_after_fen": credit_after,
        }
        if refund:
            new_detail["refund_reversed"] = detail["refund_transaction"]
        if catch_up:
            new_detail["catch_up"] = {**catch_up, "transaction": catch_up_id}
        result = self._write(
            conn,
            loan,
            K.REVERSAL,
            on,
            lines,
            new_detail,
            key,
            digest,
            tx["amount_fen"],
            values,
            reversal_of=tx_id,
        )
        reversed_ids = [tx_id, *([detail["refund_transaction"]] if refund else [])]
        conn.execute(
            update(TRANSACTIONS)
            .where(TRANSACTIONS.c.id.in_(reversed_ids))
            .values(reversed_by=result.transaction_id)
        )
        if catch_up:
            self._post_catch_up(conn, loan_id, catch_up_id, on, actor, catch_up, result)
        for frm, to, ev in events:
            book.record_event(
                conn,
                loan_id,
                frm,
                to,
                ev,
                actor,
                note=f"reversal of {tx_id}",
                transaction_id=result.transaction_id,
            )
        return result

    @staticmethod
    def _cancel_refund_due(
        conn: Connection, loan_id: str, tx_id: str, detail: dict[str, Any]
    ) -> None:
        """Reversing the payment that closed a loan with credit left: its refund, if still due,
        is cancelled (the credit goes back to the reopened loan); if paid out, it is refused."""
        if "refund_due" not in detail:
            return
        row = refunds.of_source(conn, tx_id)
        if row is None or row["status"] == refunds.RefundStatus.CANCELLED.value:
            return
        if row["status"] == refunds.RefundStatus.PAID.value:
            raise RefundStateError(
                f"transaction {tx_id}: the refund of {from_fen(row['amount_fen'])} it left on "
                f"loan {loan_id} was paid out on {row['paid_on']} (approved by "
                f"{row['approved_by']}); a payment whose refund was paid cannot be reversed"
            )
        refunds.cancel(conn, row["id"])

    # ---- refunds ------------------------------------------------------------------------------

    def approve_refund(
        self, loan_id: str, by: str, business_date: date | None = None
    ) -> dict[str, Any]:
        """An officer (``by``) approves the payout of the refund due on ``loan_id``: Dr
        borrower_credit, Cr cash_clearing, dated ``business_date`` (default: the open business
        date, or the day the refund fell due when no end of day has run). Once only: a second
        approval finds no refund due."""
        by = _officer(by)
        with write_transaction(self.engine) as conn:
            loan = self._lock(conn, loan_id)
            due = refunds.due_on_loan(conn, loan_id)
            if due is None:
                raise RefundStateError(f"loan {loan_id}: no refund due")
            last = book.closed_through(conn, loan)
            if business_date is None:
                on = due["due_on"] if last is None else max(due["due_on"], last + timedelta(1))
            else:
                on = check_date(business_date, loan_id, "refund date")
            if on < due["due_on"]:
                raise LoanInputError(
                    f"loan {loan_id}: refund date {on} is before the refund fell due on "
                    f"{due['due_on']}"
                )
            book.date_rule(loan_id, on, "refund", last)
            fen = int(due["amount_fen"])
            if loan["credit_fen"] < fen:
                raise RefundStateError(
                    f"loan {loan_id}: holds {from_fen(loan['credit_fen'])} of credit, less than "
                    f"the refund due {from_fen(fen)}"
                )
            tx_id = book.new_id("TX")
            post_refund(conn, loan_id, fen, on, by, due["source_transaction_id"], tx_id, due["id"])
            book.update_loan(conn, loan_id, {"credit_fen": loan["credit_fen"] - fen})
            refunds.mark_paid(conn, due["id"], by, book.now(), on, tx_id)
            paid = refunds.of_source(conn, due["source_transaction_id"])
            assert paid is not None
            return refunds.as_dict(paid)

    def refunds(
        self, start: date | None = None, end: date | None = None, loan_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Refunds due, paid or cancelled, due or paid within ``start``..``end``."""
        with self.engine.connect() as conn:
            return refunds.listing(conn, start, end, loan_id)

    @staticmethod
    def _check_reversible(conn: Connection, loan: RowMapping, tx: RowMapping) -> LoanState:
        """The loan's state, if ``tx`` may be reversed now: a repayment or prepayment not yet
        reversed, the latest one of the loan (later ones must be reversed first, so no row is
        left paid out of allocation order), on a loan that still takes postings."""
        loan_id, tx_id = loan["id"], tx["id"]
        state = LoanState(loan["state"])
        if state not in REVERSIBLE_STATES:
            raise LoanStateError(
                f"loan {loan_id} is {state.value}: cannot reverse transaction {tx_id} "
                "(only active, overdue or closed loans take reversals)"
            )
        if tx["kind"] not in REVERSIBLE:
            raise LoanInputError(
                f"transaction {tx_id} is a {tx['kind']}; only repayments and prepayments can "
                "be reversed"
            )
        if tx["reversed_by"] is not None:
            raise LoanInputError(f"transaction {tx_id} was already reversed by {tx['reversed_by']}")
        later = conn.execute(
            _LATER_PAYMENT,
            {"loan_id": loan_id, "tx_id": tx_id, "created_at": tx["created_at"]},
        ).scalar()
        if later is not None:
            raise LoanInputError(
                f"transaction {tx_id}: loan {loan_id} has a later payment {later} "
                "that is not reversed; reversals go latest first: reverse it first"
            )
        if tx["kind"] == K.PREPAYMENT.value and loan["version"] != tx["detail"]["version_after"]:
            raise LoanInputError(
                f"transaction {tx_id}: loan {loan_id} has changed since this prepayment (end of "
                "day has run on its new schedule); a prepayment can be reversed only on its own "
                "business day"
            )
        return state

    @staticmethod
    def _reversal_date(
        loan_id: str, tx: RowMapping, business_date: date | None, last: date | None
    ) -> date:
        """The reversal's business date: as given, else the open date (the original's date when
        no end of day has run); never before the original's (value) date, always open."""
        value_date: date = tx["business_date"]
        if business_date is None:
            on = value_date if last is None else last + timedelta(days=1)
        else:
            on = check_date(business_date, loan_id, "reversal date")
        if on < value_date:
            raise LoanInputError(
                f"loan {loan_id}: reversal date {on} is before the value date {value_date} of "
                f"transaction {tx['id']}"
            )
        book.date_rule(loan_id, on, "reversal", last)
        return on

    @staticmethod
    def _undo_rows(
        conn: Connection, loan_id: str, tx: RowMapping, deltas: Sequence[Sequence[int]]
    ) -> dict[int, RowMapping]:
        """The loan's current rows as the reversal finds them (a prepayment's new schedule
        removed and the old one restored), checked so every delta can be taken back."""
        detail = tx["detail"]
        if tx["kind"] == K.PREPAYMENT.value:
            conn.execute(delete(INSTALMENTS).where(INSTALMENTS.c.id.in_(detail["created"] or [-1])))
            conn.execute(SUPERSEDE, [{"row_id": i, "flag": False} for i in detail["superseded"]])
        rows = {r["id"]: r for r in book.current_instalments(conn, loan_id)}
        for d in deltas:
            row = rows.get(d[0])
            if row is None or not reversible(row, d):
                raise LoanInputError(
                    f"transaction {tx['id']}: instalment {row['number'] if row else d[0]} of loan "
                    f"{loan_id} has been paid or changed by a later posting; reverse that first"
                )
        return rows

    @staticmethod
    def _restore_status(
        loan_id: str,
        detail: dict[str, Any],
        target: LoanState,
        values: dict[str, Any],
        events: list[tuple[LoanState, LoanState, LoanEvent]],
    ) -> LoanState:
        """No end of day has run: the status the payment replaced is still the right one."""
        restore = detail["restore"]
        cured = detail["state_after"] != LoanState.OVERDUE.value
        before = LoanState(detail["state_before"])
        if before is LoanState.OVERDUE and cured and target is LoanState.ACTIVE:
            nxt = transition(target, LoanEvent.FALL_OVERDUE, loan_id)
            events.append((target, nxt, LoanEvent.FALL_OVERDUE))
            target = nxt
            since = restore["overdue_since"]
            values.update(
                dpd=restore["dpd"],
                bucket=restore["bucket"],
                overdue_since=date.fromisoformat(since) if since else None,
                npa=bool(restore.get("npa", False)),
            )
        return target

    def _status_after_eod(
        self,
        conn: Connection,
        loan: RowMapping,
        tx: RowMapping,
        deltas: Sequence[Sequence[int]],
        last: date,
        target: LoanState,
        values: dict[str, Any],
        events: list[tuple[LoanState, LoanState, LoanEvent]],
    ) -> tuple[LoanState, dict[str, Any]]:
        """End of day has run: recompute DPD, bucket, NPA and state as of ``last`` from the rows
        (the status saved with the payment may be days stale), and work out the penalty end of
        day skipped on the principal the reversal puts back since the payment."""
        loan_id = loan["id"]
        rows = book.current_instalments(conn, loan_id)
        restore = tx["detail"]["restore"]
        params = self.config.for_product(loan["product_code"])
        first_day = self._first_eod_day_after(conn, tx)
        catch = catch_up_penalty(
            rows,
            {d[0]: d[1] for d in deltas},
            first_day,
            last,
            Decimal(loan["penalty_rate"]),
            daily_basis(loan["day_count"]),
            params.npa_dpd,
            bool(restore.get("npa", loan["npa"])),
        )
        dpd, since = arrears_status(rows, last)
        npa = dpd >= params.npa_dpd or (catch.npa and dpd > 0)
        values.update(dpd=dpd, bucket=bucket(dpd).value, overdue_since=since, npa=npa)
        event = None
        if target is LoanState.ACTIVE and dpd > 0:
            event = LoanEvent.FALL_OVERDUE
        elif target is LoanState.OVERDUE and dpd == 0:
            event = LoanEvent.CURE
        if event is not None:
            nxt = transition(target, event, loan_id)
            events.append((target, nxt, event))
            target = nxt
        if not catch.booked and not catch.memo:
            return target, {}
        return target, {
            "days": catch.days,
            "from": first_day.isoformat(),
            "through": last.isoformat(),
            "booked": sorted(catch.booked.items()),
            "memo": sorted(catch.memo.items()),
        }

    @staticmethod
    def _first_eod_day_after(conn: Connection, tx: RowMapping) -> date:
        """The first business date end of day ran after ``tx`` was posted: its own date under
        the open-date rule; the first run ever when it was posted before any end of day (the
        first run starts at the loans' disbursement, before the payment's date)."""
        opened = tx["detail"].get("open_date", tx["business_date"].isoformat())
        if opened is not None:
            return date.fromisoformat(opened)
        value_date: date = tx["business_date"]
        first: date | None = conn.execute(_FIRST_RUN_SINCE, {"at": tx["created_at"]}).scalar()
        return value_date if first is None else min(first, value_date)

    @staticmethod
    def _post_catch_up(
        conn: Connection,
        loan_id: str,
        tx_id: str,
        on: date,
        actor: str,
        catch_up: dict[str, Any],
        reversal: PostingResult,
    ) -> None:
        """Charge the skipped penalty: rows' accrued penalty (and memo) up, booked part posted
        Dr penalty_receivable, Cr penalty_income; the memo part has no journal line."""
        booked, memo = dict(catch_up["booked"]), dict(catch_up["memo"])
        conn.execute(
            _ADD_PENALTY,
            [
                {
                    "row_id": row_id,
                    "d_accrued": booked.get(row_id, 0) + memo.get(row_id, 0),
                    "d_memo": memo.get(row_id, 0),
                }
                for row_id in sorted(booked.keys() | memo.keys())
            ],
        )
        total = sum(booked.values())
        if total:
            book.post_lines(
                conn,
                loan_id,
                K.PENALTY,
                on,
                [
                    Line(Account.PENALTY_RECEIVABLE, debit_fen=total),
                    Line(Account.PENALTY_INCOME, credit_fen=total),
                ],
                actor,
                {
                    "instalments": [list(item) for item in catch_up["booked"]],
                    "memo": [list(item) for item in catch_up["memo"]],
                    "catch_up_for": reversal.transaction_id,
                },
                transaction_id=tx_id,
            )

    # ---- reading ------------------------------------------------------------------------------

    def show(self, loan_id: str) -> dict[str, Any]:
        """The loan, its current schedule with what is paid, balances and the all-in rate."""
        with self.engine.connect() as conn:
            return self._show(conn, loan_id)

    def _show(self, conn: Connection, loan_id: str) -> dict[str, Any]:
        loan = conn.execute(select(LOANS).where(LOANS.c.id == loan_id)).mappings().first()
        if loan is None:
            raise LoanNotFoundError(f"loan {loan_id}: no such loan")
        rows = book.current_instalments(conn, loan_id)
        schedule = [
            {
                "n": r["number"],
                "due_date": r["due_date"].isoformat(),
                "principal": str(from_fen(r["principal_due_fen"])),
                "interest": str(from_fen(r["interest_due_fen"])),
                "fee": str(from_fen(r["fee_due_fen"])),
                "paid": str(
                    from_fen(
                        r["principal_paid_fen"]
                        + r["interest_paid_fen"]
                        + r["fee_paid_fen"]
                        + r["penalty_paid_fen"]
                    )
                ),
                "penalty": str(from_fen(r["penalty_accrued_fen"])),
                "outstanding": str(from_fen(owed(r))),
            }
            for r in rows
        ]
        principal_out = sum(r["principal_due_fen"] - r["principal_paid_fen"] for r in rows)
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

    def statement(self, loan_id: str) -> dict[str, Any]:
        from creditgraph.servicing.ledger import statement

        result: dict[str, Any] = statement(self.engine, loan_id)
        return result


class RefundStateError(LoanError):
    """No refund is due, or the refund was already paid; nothing was posted."""


def check_name(value: object, what: str) -> str:
    """A channel's or an officer's name: 1 to 100 characters without surrounding spaces."""
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100 or value != value.strip():
        raise LoanInputError(f"{what} must be 1 to 100 characters without surrounding spaces")
    return value


def _officer(by: object) -> str:
    return check_name(by, "the approving officer's name")


def _channel(channel: str | None) -> dict[str, Any]:
    """What a payment's detail records of the channel the money came through."""
    return {} if channel is None else {"channel": check_name(channel, "channel")}


def _open_date(closed_through: date | None, business_date: date) -> str | None:
    """What a payment's detail keeps of the date rule: its date when end of day had run (the
    first day end of day treats it as paid), None when none had (a first run may start earlier)."""
    return None if closed_through is None else business_date.isoformat()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
