"""Two real processes posting to one loan at once, and a process killed mid-posting.

Spawned processes (not threads) on SQLite and PostgreSQL: every key is posted exactly once, the
books balance, and a SIGKILL between the loan update and the journal insert leaves nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from creditgraph.servicing.book import LOANS, TRANSACTIONS
from creditgraph.servicing.ledger import trial_balance
from creditgraph.servicing.loans import LoanService
from creditgraph.store.db import make_engine
from tests.loan_world import active_loan

PAY_DAY = date(2026, 8, 1)
KEYS = [f"pay-{n}" for n in range(30)]


def _post_all(url: str, loan_id: str, keys: list[str], start: object) -> list[tuple[str, bool]]:
    """Child: wait for the start signal, then post a repayment under every key."""
    engine = make_engine(url)
    service = LoanService(engine)
    start.wait()  # type: ignore[attr-defined]
    out = []
    for key in keys:
        result = service.repay(loan_id, "10.01", PAY_DAY, key=key)
        out.append((result.transaction_id, result.replayed))
    engine.dispose()
    return out


def test_two_processes_post_each_repayment_exactly_once(db_url: str, engine: Engine) -> None:
    loan_id = active_loan(LoanService(engine))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(2) as pool:
            # Both processes post the same keys, in opposite orders, at the same time.
            jobs = [
                pool.apply_async(_post_all, (db_url, loan_id, KEYS, start)),
                pool.apply_async(_post_all, (db_url, loan_id, KEYS[::-1], start)),
            ]
            time.sleep(0.5)
            start.set()
            results = [job.get(timeout=120) for job in jobs]
    first = dict(zip(KEYS, results[0], strict=True))
    second = dict(zip(KEYS[::-1], results[1], strict=True))
    for key in KEYS:
        assert first[key][0] == second[key][0]  # one transaction per key, whoever came first
        assert [first[key][1], second[key][1]].count(False) == 1
    with engine.connect() as conn:
        kinds = dict(
            conn.execute(
                select(TRANSACTIONS.c.kind, func.count()).group_by(TRANSACTIONS.c.kind)
            ).all()
        )
        credit = conn.execute(select(LOANS.c.credit_fen).where(LOANS.c.id == loan_id)).scalar()
    assert kinds["repayment"] == len(KEYS)
    shown = LoanService(engine).show(loan_id)
    paid = sum(Decimal(r["paid"]) for r in shown["schedule"]) * 100
    assert paid + (credit or 0) == 1001 * len(KEYS)
    assert trial_balance(engine)["balanced"]


def _post_and_hang(url: str, loan_id: str, marker: str) -> None:
    """Child: post a repayment that stops between the loan update and the journal insert."""

    def hook(point: str) -> None:
        if point == "before_journal":
            Path(marker).write_text("inside")
            time.sleep(120)

    engine = make_engine(url)
    LoanService(engine, hook=hook).repay(loan_id, "500", PAY_DAY, key="killed")


def test_a_process_killed_mid_posting_leaves_nothing(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    service = LoanService(engine)
    loan_id = active_loan(service)
    before_loan = service.show(loan_id)
    with engine.connect() as conn:
        version = conn.execute(select(LOANS.c.version).where(LOANS.c.id == loan_id)).scalar()
    marker = tmp_path / "inside"
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_post_and_hang, args=(db_url, loan_id, str(marker)))
    child.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and child.is_alive(), "child never reached the hook"
        time.sleep(0.05)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL
    with engine.connect() as conn:
        keyed = conn.execute(
            select(func.count()).where(TRANSACTIONS.c.idempotency_key == "killed")
        ).scalar()
        version_after = conn.execute(select(LOANS.c.version).where(LOANS.c.id == loan_id)).scalar()
    assert keyed == 0 and version_after == version
    assert service.show(loan_id) == before_loan
    assert trial_balance(engine)["balanced"]
    # The lock died with the process: the same key posts now, once.
    result = service.repay(loan_id, "500", PAY_DAY, key="killed")
    assert not result.replayed
    assert trial_balance(engine)["balanced"]
