"""How every posting command runs: key checked, one unit of work under the loan's lock, the
ownership check on that locked row, the core's plan applied by the book, and a retry with the
same key answered with the first result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from creditgraph.servicing.book.uow import (
    Engine,
    UnitOfWork,
    WriteConflictError,
    reading,
    unit_of_work,
)
from creditgraph.servicing.config import ServicingConfig
from creditgraph.servicing.config_file import load_servicing_config
from creditgraph.servicing.core.plan import PostingPlan
from creditgraph.servicing.core.values import Instalment, LoanSnapshot
from creditgraph.servicing.errors import LoanError, LoanNotFoundError, ScheduleError
from creditgraph.servicing.lifecycle import LoanStateError
from creditgraph.servicing.posting import PostingResult, check_key, request_hash

Plan = Callable[[UnitOfWork, LoanSnapshot, Sequence[Instalment]], PostingPlan]
"""A posting's plan from the locked loan (and its owing rows, when they were asked for)."""
OnPosted = Callable[[UnitOfWork, PostingResult], None]
"""Called in the posting's own unit of work after it is written (a confirmed intent records it)."""
RETRYABLE = (WriteConflictError, LoanError, LoanStateError, ScheduleError)


class HiddenLoanError(LoanNotFoundError):
    """The loan exists but is not the caller's: it reads exactly as a missing loan."""


def no_such_loan(loan_id: str) -> LoanNotFoundError:
    return LoanNotFoundError(f"loan {loan_id}: no such loan")


class PostingRunner:
    """The engine, the servicing configuration and the crash-test hook every posting shares."""

    def __init__(
        self,
        engine: Engine,
        config: ServicingConfig | None = None,
        *,
        hook: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or load_servicing_config()
        # Called between the loan change and the journal insert ("before_journal"), so tests can
        # stop a process there and prove nothing partial is left.
        self._hook = hook

    def _locked(
        self,
        uow: UnitOfWork,
        loan_id: str,
        owing: bool,
        visible_to: str | None,
        hidden: Callable[[], LoanNotFoundError] | None = None,
    ) -> tuple[LoanSnapshot, list[Instalment]]:
        """The locked loan (with its owing rows in the same round trip when ``owing``), if it
        exists and, given ``visible_to``, belongs to that applicant: one read, inside the
        posting's transaction. A loan of someone else is refused exactly as a missing one."""
        if owing:
            loan, rows = uow.lock_with_owing(loan_id)
        else:
            loan, rows = uow.lock(loan_id), []
        missing = hidden or (lambda: no_such_loan(loan_id))
        if loan is None:
            raise missing()
        if visible_to is not None and loan.applicant_ref != visible_to:
            raise HiddenLoanError(str(missing()))
        return loan, rows

    def _post_in(
        self,
        uow: UnitOfWork,
        loan_id: str,
        key: str,
        digest: str,
        plan_of: Plan,
        *,
        owing: bool = False,
        visible_to: str | None = None,
        on_posted: OnPosted | None = None,
        hidden: Callable[[], LoanNotFoundError] | None = None,
    ) -> PostingResult:
        """Plan and apply one posting inside ``uow``."""
        loan, rows = self._locked(uow, loan_id, owing, visible_to, hidden)
        plan = plan_of(uow, loan, rows)
        tx_id, detail = uow.apply(plan, key=key, digest=digest, hook=self._hook)
        result = PostingResult.posted(plan, tx_id, key, detail)
        if on_posted is not None:
            on_posted(uow, result)
        return result

    def _posting(
        self,
        loan_id: str,
        key: str | None,
        body: dict[str, Any],
        plan_of: Plan,
        *,
        owing: bool = False,
        visible_to: str | None = None,
        on_posted: OnPosted | None = None,
        hidden: Callable[[], LoanNotFoundError] | None = None,
    ) -> PostingResult:
        """Run one posting in its own unit of work under the loan lock.

        The key is checked by the database (a unique column), not by a query first: the happy
        path stays one statement shorter. A posting refused, or stopped by the unique key, is
        rolled back and then looked up by key, so a retry gets the first result and a reused key
        with another body gets :class:`IdempotencyConflictError`. A missing loan, or one hidden
        from the caller, is refused as missing, with no lookup.
        """
        key = check_key(key)
        digest = request_hash(body)
        try:
            with unit_of_work(self.engine) as uow:
                return self._post_in(
                    uow,
                    loan_id,
                    key,
                    digest,
                    plan_of,
                    owing=owing,
                    visible_to=visible_to,
                    on_posted=on_posted,
                    hidden=hidden,
                )
        except LoanNotFoundError:
            raise  # no posting of a missing (or hidden) loan can be stored under the key
        except RETRYABLE:
            seen = self._replay(key, digest)
            if seen is None:
                raise
            return seen

    def _replay(self, key: str, digest: str) -> PostingResult | None:
        with reading(self.engine) as uow:
            return self._replay_in(uow, key, digest)

    @staticmethod
    def _replay_in(uow: UnitOfWork, key: str, digest: str) -> PostingResult | None:
        stored = uow.by_key(key)
        return None if stored is None else PostingResult.replay(stored, key, digest)
