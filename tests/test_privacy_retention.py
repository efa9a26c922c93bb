"""Retention: what is past its period goes, whole; holds and the books keep what they must."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, insert, select, update
from typer.testing import CliRunner

from creditgraph.audit import keyfile, outbox, sequencer
from creditgraph.audit.kinds import KINDS
from creditgraph.audit.verify import verify
from creditgraph.cli.main import app as cli_app
from creditgraph.privacy import retention
from creditgraph.servicing.eod import run_eod
from creditgraph.servicing.loans import LoanService
from creditgraph.store import lake
from creditgraph.store.models import (
    DataAccess,
    DecisionRecord,
    FeatureSnapshot,
    JournalLine,
    LegalHold,
    Loan,
    LoanEvent,
    LoanInstalment,
    LoanTransaction,
    ModelVersion,
    OnlineFeatures,
    Score,
    SubjectRequest,
    table_of,
)
from tests import lake_world
from tests.loan_world import START, active_loan, insert_decision

AS_OF = date(2032, 1, 1)  # loans and decisions of 2026 are past 5 years; 2025's social rows too
LOAN_TABLES = (Loan, LoanInstalment, LoanTransaction, LoanEvent)


def _close(engine: Engine, loan_id: str, on: date) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(table_of(Loan)).where(Loan.id == loan_id).values(state="closed", closed_on=on)
        )


def _loan_rows(engine: Engine, loan_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        counts = {
            table_of(m).name: int(
                conn.execute(
                    select(func.count()).select_from(m).where(table_of(m).c.loan_id == loan_id)
                ).scalar_one()
            )
            for m in LOAN_TABLES[1:]
        }
        counts["loans"] = int(
            conn.execute(select(func.count()).where(Loan.id == loan_id)).scalar_one()
        )
        counts["journal_lines"] = int(
            conn.execute(select(func.count()).where(JournalLine.loan_id == loan_id)).scalar_one()
        )
    return counts


def _log_everything(engine: Engine, keys: sequencer.LogKeys) -> None:
    """Commit what the test wrote behind the log's back, then integrate and publish."""
    with engine.begin() as conn:
        for kind in KINDS:
            outbox.backfill(conn, kind)
    sequencer.integrate_all(engine)
    sequencer.publish(engine, keys, force=True)


def _verified(engine: Engine, keys: sequencer.LogKeys) -> Any:
    report = verify(engine, [s.verifier() for s in keys.signers])
    assert report.ok, [p.describe() for p in report.problems]
    return report


def _hold(engine: Engine, person_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(table_of(LegalHold)).values(
                person_id=person_id,
                data_class="loans",
                reason="court order",
                basis="litigation",
                held_until=date(2040, 1, 1),
                created_at=datetime(2026, 9, 1),
            )
        )


@pytest.fixture
def keys(tmp_path: Path) -> sequencer.LogKeys:
    return keyfile.load_or_create(tmp_path / "keys")


@pytest.fixture
def home(tmp_path: Path, engine: Engine) -> Path:
    lake_dir = tmp_path / "lake"
    lake_world.write_lake(lake_dir)
    with engine.begin() as conn:
        lake_world.write_database(conn)
    return lake_dir


def test_retention_removes_loans_and_decisions_whole_and_keeps_what_a_hold_covers(
    home: Path, engine: Engine, keys: sequencer.LogKeys
) -> None:
    service = LoanService(engine)
    gone, held, open_loan = (active_loan(service) for _ in range(3))
    _close(engine, gone, START + timedelta(days=30))
    _close(engine, held, START + timedelta(days=30))
    declined = insert_decision(engine, outcome="decline")
    with engine.connect() as conn:
        held_person = conn.execute(select(Loan.person_id).where(Loan.id == held)).scalar_one()
        gone_decision = conn.execute(select(Loan.decision_id).where(Loan.id == gone)).scalar_one()
    _hold(engine, held_person)
    with engine.begin() as conn:  # a declined application of a person who has a loan with us
        row = dict(
            conn.execute(select(table_of(DecisionRecord)).where(DecisionRecord.id == declined))
            .mappings()
            .one()
        )
        borrower = conn.execute(select(Loan.person_id).where(Loan.id == open_loan)).scalar_one()
        conn.execute(
            insert(table_of(DecisionRecord)).values(
                {**row, "id": "DC-borrower-earlier", "person_id": borrower}
            )
        )
    _log_everything(engine, keys)
    before = _verified(engine, keys)
    held_rows = _loan_rows(engine, held)

    report = retention.run(engine, home, AS_OF)

    loans, decisions = report.classes["loans"], report.classes["decisions"]
    assert (loans.removed, loans.kept_by_hold, loans.kept_by_books) == (1, 1, 0)
    assert set(_loan_rows(engine, gone).values()) == {0}  # every part of the loan went
    assert _loan_rows(engine, held) == held_rows  # and none of the held one
    assert all(_loan_rows(engine, open_loan).values())
    assert decisions.removed == 2 and decisions.kept_with_loan == 3
    with engine.connect() as conn:
        left = set(conn.execute(select(DecisionRecord.id)).scalars())
        debit, credit = conn.execute(
            select(func.sum(JournalLine.debit_fen), func.sum(JournalLine.credit_fen))
        ).one()
    assert declined not in left and gone_decision not in left
    assert "DC-borrower-earlier" in left  # its person still has a loan with us
    assert debit == credit  # the books still balance
    after = _verified(engine, keys)  # the log's entries stay, the removed ones unlinkable
    assert after.tree_size == before.tree_size
    assert after.unlinkable == before.unlinkable + 2


def test_a_loan_whose_journal_a_day_end_vouches_for_is_kept_whole(
    home: Path, engine: Engine, keys: sequencer.LogKeys
) -> None:
    service = LoanService(engine)
    loan = active_loan(service)
    run_eod(engine, START + timedelta(days=1))
    _close(engine, loan, START + timedelta(days=30))
    _log_everything(engine, keys)
    rows = _loan_rows(engine, loan)
    report = retention.run(engine, home, AS_OF)
    assert report.classes["loans"].kept_by_books == 1 and report.classes["loans"].removed == 0
    assert _loan_rows(engine, loan) == rows
    _verified(engine, keys)


def test_social_rows_past_their_period_leave_the_lake(home: Path, engine: Engine) -> None:
    report = retention.run(engine, home, date(2027, 8, 15))  # cut-off 2025-08-15
    social = report.classes["social"]
    assert social.cutoff == date(2025, 8, 15)
    kept = {
        t: [r for p in lake.parts(home, t) for r in pq.read_table(p).to_pylist()]
        for t in lake_world.PARTS
    }
    assert all(r["ended_at"] is None for r in kept["ties"])  # a tie in place never expires
    assert kept["interactions"] == [] and kept["activity_daily"] == []
    assert social.detail["activity_daily"] == 2
    # devices: 23 goes as erased, 21 and 22 (last seen 2025-08-01) by age
    assert social.detail["devices"] == 2 and kept["devices"] == []
    assert social.removed == sum(social.detail.values())


def test_features_access_log_and_requests_by_their_time(
    home: Path, engine: Engine, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    for path in (old, new):
        pq.write_table(pa.table({"person_id": [lake_world.C]}), path)
        path.with_suffix(".json").write_text("{}")
    with engine.begin() as conn:
        for sid, as_of, path in (
            ("s-old", date(2025, 1, 1), old),
            ("s-new", date(2031, 1, 1), new),
        ):
            conn.execute(
                insert(table_of(FeatureSnapshot)).values(
                    id=sid,
                    feature_set_version="1",
                    as_of=as_of,
                    engine="duckdb",
                    path=str(path),
                    rows=1,
                    data_sha256="0" * 64,
                    created_at=datetime(2031, 1, 1),
                )
            )
        for person, as_of in ((lake_world.A, date(2025, 1, 1)), (lake_world.C, date(2031, 6, 1))):
            conn.execute(
                insert(table_of(OnlineFeatures)).values(
                    person_id=person,
                    feature_set_version="1",
                    as_of=as_of,
                    snapshot_id="s",
                    values={},
                    updated_at=datetime(2031, 1, 1),
                )
            )
        conn.execute(
            insert(table_of(ModelVersion)).values(
                id="m1",
                family="scorecard",
                as_of=date(2025, 1, 1),
                feature_set_version="1",
                training_data_sha256="0" * 64,
                artifact={},
                metrics={},
                status="champion",
                created_at=datetime(2025, 1, 1),
                created_by="test",
            )
        )
        for as_of in (date(2025, 1, 1), date(2031, 1, 1)):
            conn.execute(
                insert(table_of(Score)).values(
                    person_id=lake_world.A,
                    as_of=as_of,
                    model_id="m1",
                    score=600.0,
                    pd=0.05,
                    grade="C",
                    reasons=[],
                    scored_at=datetime(2031, 1, 1),
                )
            )
        for at in (datetime(2028, 1, 1), datetime(2030, 1, 1)):
            conn.execute(
                insert(table_of(DataAccess)).values(
                    at=at,
                    actor="officer",
                    actor_kind="user",
                    person_id=lake_world.A,
                    purpose="credit_assessment",
                    data_classes="identity",
                    action="read",
                )
            )
        for rid, completed in (("r1", datetime(2028, 1, 1)), ("r2", None)):
            conn.execute(
                insert(table_of(SubjectRequest)).values(
                    id=rid,
                    person_id=lake_world.A,
                    kind="export",
                    status="completed" if completed else "open",
                    requested_by="officer",
                    received_at=datetime(2027, 12, 1),
                    due_at=datetime(2027, 12, 16),
                    completed_at=completed,
                )
            )
    dry = retention.run(engine, home, AS_OF, dry_run=True)
    assert old.exists()
    report = retention.run(engine, home, AS_OF)
    features = report.classes["features"]
    assert features.detail == {"offline_snapshots": 1, "online_rows": 1}
    assert features.oldest_kept == "2031-01-01"
    assert not old.exists() and not old.with_suffix(".json").exists() and new.exists()
    assert report.classes["access_log"].removed == 1
    assert report.classes["access_log"].oldest_kept is not None
    assert report.classes["access_log"].oldest_kept.startswith("2030-01-01")
    assert report.classes["subject_requests"].removed == 1  # the open one stays
    scores = report.classes["scores"]
    assert (scores.removed, scores.oldest_kept) == (1, "2031-01-01")
    for name, c in dry.classes.items():
        assert c.removed == report.classes[name].removed, name


def _state(engine: Engine, lake_dir: Path) -> dict[str, Any]:
    with engine.connect() as conn:
        counts = {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in table_of(Loan).metadata.sorted_tables
        }
    files = {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in lake_dir.rglob("*.parquet")
    }
    return {"rows": counts, "files": files}


def test_a_dry_run_changes_nothing_and_counts_what_the_run_removes(
    home: Path, engine: Engine
) -> None:
    service = LoanService(engine)
    loan = active_loan(service)
    _close(engine, loan, START)
    before = _state(engine, home)
    dry = retention.run(engine, home, AS_OF, dry_run=True)
    assert _state(engine, home) == before
    real = retention.run(engine, home, AS_OF)
    assert dry.classes["loans"].removed == real.classes["loans"].removed == 1
    assert dry.lake.rows_removed == real.lake.rows_removed > 0


def test_a_policy_with_a_bad_period_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = (Path(retention.__file__).parent / "retention.toml").read_text()
    bad = tmp_path / "policy.toml"
    bad.write_text(text.replace("months = 36", "months = 0", 1))
    with pytest.raises(retention.RetentionPolicyError, match=r"classes\.access_log\.months"):
        retention.load_policy(bad)


def test_cli_prints_the_report_in_both_languages_and_refuses_a_bad_date(
    home: Path, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home.parent / "clihome"))
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    bad = runner.invoke(cli_app, ["retention", "run", "--as-of", "2031-13-01"])
    assert bad.exit_code == 1
    assert "--as-of" in bad.output and "Traceback" not in bad.output
    good = runner.invoke(cli_app, ["retention", "run", "--as-of", "2031-01-01", "--dry-run"])
    assert good.exit_code == 0, good.output
    assert "社交数据" in good.output and "social rows" in good.output
    assert "dry run" in good.output
    lake_out = runner.invoke(cli_app, ["lake", "compact", "--dry-run"])
    assert lake_out.exit_code == 0, lake_out.output
    assert "湖压缩" in lake_out.output and "Lake compaction" in lake_out.output


def test_cli_refuses_in_one_line_while_the_lake_is_being_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "clihome"
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home))
    runner = CliRunner()
    with lake.lake_lock(home / "lake", exclusive=False):  # an ingest is running
        for argv in (["lake", "compact"], ["retention", "run", "--as-of", "2031-01-01"]):
            result = runner.invoke(cli_app, argv)
            assert result.exit_code == 1, argv
            lines = [line for line in result.output.splitlines() if line.startswith("error:")]
            assert len(lines) == 1 and "try again" in lines[0], result.output
            assert "Traceback" not in result.output


def test_stored_api_answers_go_after_a_month(home: Path, engine: Engine) -> None:
    """The retry cache copies what it answered (a review's note, a decision's inputs): an
    answer stored more than a month before the run goes, a newer one stays for its retry."""
    from creditgraph.api.keys import create_key
    from creditgraph.store.models import IdempotencyKey

    key = create_key(engine, "app", "applicant-app", "test")
    with engine.begin() as conn:
        for name, stored in (("old", datetime(2031, 11, 30)), ("new", datetime(2031, 12, 15))):
            conn.execute(
                insert(table_of(IdempotencyKey)).values(
                    api_key_id=key.info.id,
                    idempotency_key=name,
                    request_method="POST",
                    request_path="/v1/decisions/d1/review",
                    request_sha256="0" * 64,
                    response_status=201,
                    response_body={"note": "call me on 13800138000"},
                    created_at=stored,
                )
            )
    dry = retention.run(engine, home, AS_OF, dry_run=True)
    assert dry.classes["api_answers"].removed == 1
    report = retention.run(engine, home, AS_OF)
    answers = report.classes["api_answers"]
    assert (answers.removed, answers.cutoff) == (1, date(2031, 12, 1))
    with engine.connect() as conn:
        kept = conn.execute(select(table_of(IdempotencyKey).c.idempotency_key)).scalars().all()
    assert kept == ["new"]
