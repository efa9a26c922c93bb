"""Retention: remove what has outlived its period (``retention.toml``), as of an explicit date.

One run applies every class of the policy and the open purge jobs, and reports per class what
it removed and the oldest thing it kept:

- **social**: lake rows, by a lake compaction with a time cut-off (``compaction``), which also
  does the open purge jobs (erasures, revocations);
- **features**: offline snapshots (file, manifest and record) and online rows, by as-of date;
- **scores**: batch scores, by as-of date;
- **decisions**: by their time, with their review requests and events; never one of a person
  who still has a loan with us (kept or not yet ended), never one of a person under a legal
  hold;
- **loans**: ended (closed, written off, cancelled, rejected) before the cut-off, whole or not
  at all: the loan, its instalments, transactions, journal lines, events, intents, refunds and
  collections entries in one transaction, then its decision if that is past its own period.
  A loan is kept while any legal hold of its person stands, and kept whole when a completed
  day end vouches for its journal lines: the audit log commits each day end's trial balance,
  and removing the lines would change the books the log vouches for (an account book is kept
  30 years anyway, see the policy file);
- **access_log** and **subject_requests** (completed ones) by their time.
- **api_answers**: the answers stored under an ``Idempotency-Key`` so that a retry replays the
  first one. They copy what they answered (a decision's inputs, a review's note), and a retry
  comes within minutes: they go after a month.

The audit log keeps its entries (commitments only). A removed decision's commitments lose their
salt and pseudonym as an erasure's do (``erased_at`` set): ``audit verify`` counts them as
unlinkable, the record being gone, instead of reporting a deleted record. Nothing a day end
vouches for is removed, so verify's check of the books still holds.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select, update

from creditgraph import configfile
from creditgraph.privacy.compaction import EXPIRY_COLUMNS, CompactionReport, compact
from creditgraph.store import lake
from creditgraph.store.db import write_transaction
from creditgraph.store.models import (
    AuditRecord,
    CollectionsEntry,
    DataAccess,
    DecisionEvent,
    DecisionRecord,
    EodRun,
    FeatureSnapshot,
    IdempotencyKey,
    JournalLine,
    LegalHold,
    Loan,
    LoanEvent,
    LoanInstalment,
    LoanRefund,
    LoanTransaction,
    OnlineFeatures,
    RepaymentIntent,
    ReviewRequest,
    Score,
    SubjectRequest,
    table_of,
)

PACKAGED_NAME = "retention.toml"
CLASSES = (
    "social",
    "features",
    "scores",
    "decisions",
    "loans",
    "access_log",
    "subject_requests",
    "api_answers",
)
ENDED_STATES = ("closed", "written_off", "cancelled", "rejected")
CHUNK = 500  # ids per IN (...) list


class RetentionPolicyError(ValueError):
    """A retention policy file that cannot be used, with the field and the rule."""


@dataclass(frozen=True)
class ClassPolicy:
    months: int
    starts: str  # what the period is counted from (the file's ``from``)
    basis: str


@dataclass(frozen=True)
class RetentionPolicy:
    version: str
    jurisdiction: str
    classes: dict[str, ClassPolicy]

    def cutoff(self, name: str, as_of: date) -> date:
        """The first date still kept: ``as_of`` minus the class's months."""
        return months_before(as_of, self.classes[name].months)


def parse_policy(data: dict[str, Any]) -> RetentionPolicy:
    """Validate a parsed policy: every class present, months a positive whole number."""
    for key in ("version", "jurisdiction"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise RetentionPolicyError(f"{key}: required text")
    raw = data.get("classes")
    if not isinstance(raw, dict):
        raise RetentionPolicyError("classes: required table of data classes")
    unknown = sorted(set(raw) - set(CLASSES))
    if unknown:
        raise RetentionPolicyError(f"classes.{unknown[0]}: unknown class; known: {CLASSES}")
    classes = {}
    for name in CLASSES:
        entry = raw.get(name)
        if not isinstance(entry, dict):
            raise RetentionPolicyError(f"classes.{name}: missing")
        months = entry.get("months")
        if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 1200:
            raise RetentionPolicyError(f"classes.{name}.months: a whole number from 1 to 1200")
        for key in ("from", "basis"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise RetentionPolicyError(f"classes.{name}.{key}: required text")
        classes[name] = ClassPolicy(months, entry["from"], entry["basis"])
    return RetentionPolicy(data["version"], data["jurisdiction"], classes)


def load_policy(path: Path | None = None) -> RetentionPolicy:
    """The policy at ``path``, or the packaged ``privacy/retention.toml``."""
    return configfile.load_file_or_packaged(
        path, "creditgraph.privacy", PACKAGED_NAME, parse_policy, RetentionPolicyError
    )


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


@dataclass
class ClassReport:
    """One class: what went, what stayed and why, and the oldest time still kept."""

    name: str
    months: int
    cutoff: date
    removed: int = 0
    kept_by_hold: int = 0  # past the period, kept by a legal hold
    kept_by_books: int = 0  # loans whose journal a day end vouches for
    kept_with_loan: int = 0  # decisions whose loan is kept
    oldest_kept: str | None = None
    detail: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "months": self.months,
            "cutoff": self.cutoff.isoformat(),
            "removed": self.removed,
            "kept_by_hold": self.kept_by_hold,
            "kept_by_books": self.kept_by_books,
            "kept_with_loan": self.kept_with_loan,
            "oldest_kept": self.oldest_kept,
            "detail": self.detail,
        }


@dataclass
class RetentionReport:
    as_of: date
    policy_version: str
    dry_run: bool
    classes: dict[str, ClassReport]
    lake: CompactionReport

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "policy_version": self.policy_version,
            "dry_run": self.dry_run,
            "classes": {n: c.as_dict() for n, c in self.classes.items()},
            "lake": self.lake.as_dict(),
        }


def run(
    engine: Engine,
    lake_dir: Path,
    as_of: date,
    dry_run: bool = False,
    *,
    policy: RetentionPolicy | None = None,
    timezone: str = "Asia/Shanghai",
    lease: timedelta = timedelta(seconds=300),
    progress: Callable[[str, int, int], None] | None = None,
) -> RetentionReport:
    """Apply the policy as of ``as_of`` (see the module docstring); ``dry_run`` only counts."""
    policy = policy or load_policy()
    reports = {
        name: ClassReport(name, c.months, policy.cutoff(name, as_of))
        for name, c in policy.classes.items()
    }
    now = datetime.now(UTC).replace(tzinfo=None)
    social = reports["social"]
    lake_report = compact(
        engine,
        lake_dir,
        dry_run=dry_run,
        timezone=timezone,
        lease=lease,
        now=now,
        progress=progress,
        expire_before=_midnight(social.cutoff),
    )
    social.detail = {n: lake_report.tables[n].rows_expired for n in EXPIRY_COLUMNS}
    social.removed = sum(social.detail.values())
    social.oldest_kept = _oldest_lake_time(lake_dir, social.cutoff)
    files: list[Path] = []
    try:
        with write_transaction(engine) as conn:
            held = _held_people(conn, as_of)
            _features(conn, reports["features"], files)
            _scores(conn, reports["scores"])
            _loans(conn, reports["loans"], reports["decisions"], held, now)
            _decisions(conn, reports["decisions"], held, now)
            _by_time(conn, reports["access_log"], table_of(DataAccess), "at")
            _subject_requests(conn, reports["subject_requests"])
            _by_time(conn, reports["api_answers"], table_of(IdempotencyKey), "created_at")
            if dry_run:  # the counts are exact: the deletes ran, and are rolled back
                raise _RolledBack
    except _RolledBack:
        pass
    if not dry_run:
        for path in files:  # after the records are gone: a crash leaves a file, never a record
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
    return RetentionReport(as_of, policy.version, dry_run, reports, lake_report)


class _RolledBack(Exception):
    """A dry run's way out of its transaction, which rolls it back."""


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _oldest_lake_time(lake_dir: Path, cutoff: date) -> str | None:
    """The oldest row time kept in the lake (at or after the cut-off), over every social table."""
    import duckdb

    oldest: list[str] = []
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table, column in EXPIRY_COLUMNS.items():
            if not lake.has_data(lake_dir, table):
                continue
            row = con.execute(
                f'SELECT min(CAST("{column}" AS DATE)) FROM '
                f"read_parquet('{lake.parquet_glob(lake_dir, table)}') "
                f'WHERE CAST("{column}" AS DATE) >= ?',
                [cutoff],
            ).fetchone()
            if row and row[0] is not None:
                oldest.append(row[0].isoformat())
    finally:
        con.close()
    return min(oldest) if oldest else None


def _held_people(conn: Connection, as_of: date) -> set[str]:
    """People with a legal hold standing on ``as_of`` (whatever the class it names: a hold is
    read broadly, it keeps the person's loans and decisions)."""
    holds = table_of(LegalHold)
    rows = conn.execute(
        select(holds.c.person_id).where(
            holds.c.held_until >= as_of,
            (holds.c.released_at.is_(None)) | (holds.c.released_at > _midnight(as_of)),
        )
    )
    return set(rows.scalars())


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    items = list(ids)
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def _delete_in(conn: Connection, table: Table, column: str, ids: Sequence[str]) -> int:
    removed = 0
    for part in _chunks(ids):
        result = conn.execute(delete(table).where(table.c[column].in_(part)))
        removed += int(result.rowcount or 0)
    return removed


def _oldest(conn: Connection, table: Table, column: str, *where: Any) -> str | None:
    value = conn.execute(select(func.min(table.c[column])).where(*where)).scalar()
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _features(conn: Connection, report: ClassReport, files: list[Path]) -> None:
    snapshots = table_of(FeatureSnapshot)
    old = conn.execute(
        select(snapshots.c.id, snapshots.c.path).where(snapshots.c.as_of < report.cutoff)
    ).all()
    files.extend(Path(path) for _, path in old)
    report.detail["offline_snapshots"] = _delete_in(conn, snapshots, "id", [i for i, _ in old])
    online = table_of(OnlineFeatures)
    gone = conn.execute(delete(online).where(online.c.as_of < report.cutoff))
    report.detail["online_rows"] = int(gone.rowcount or 0)
    report.removed = sum(report.detail.values())
    kept = [_oldest(conn, snapshots, "as_of"), _oldest(conn, online, "as_of")]
    report.oldest_kept = min((k for k in kept if k), default=None)


def _scores(conn: Connection, report: ClassReport) -> None:
    scores = table_of(Score)
    report.removed = int(
        conn.execute(delete(scores).where(scores.c.as_of < report.cutoff)).rowcount or 0
    )
    report.oldest_kept = _oldest(conn, scores, "as_of")


def _by_time(conn: Connection, report: ClassReport, table: Table, column: str) -> None:
    cutoff = _midnight(report.cutoff)
    report.removed = int(conn.execute(delete(table).where(table.c[column] < cutoff)).rowcount or 0)
    report.oldest_kept = _oldest(conn, table, column)


def _subject_requests(conn: Connection, report: ClassReport) -> None:
    requests = table_of(SubjectRequest)
    done = requests.c.completed_at.is_not(None)
    cutoff = _midnight(report.cutoff)
    result = conn.execute(delete(requests).where(done, requests.c.completed_at < cutoff))
    report.removed = int(result.rowcount or 0)
    report.oldest_kept = _oldest(conn, requests, "received_at")


def _loans(
    conn: Connection, report: ClassReport, decisions: ClassReport, held: set[str], now: datetime
) -> None:
    """Ended loans past the period, whole; kept by a hold, or whole by the books."""
    loans = table_of(Loan)
    ended = func.coalesce(loans.c.closed_on, loans.c.written_off_on, func.date(loans.c.updated_at))
    rows = conn.execute(
        select(loans.c.id, loans.c.person_id, loans.c.decision_id, ended.label("ended")).where(
            loans.c.state.in_(ENDED_STATES)
        )
    ).all()
    past = [r for r in rows if _as_date(r.ended) < report.cutoff]
    candidates = [r for r in past if r.person_id not in held]
    report.kept_by_hold = len(past) - len(candidates)
    vouched = _vouched_loans(conn, [r.id for r in candidates])
    report.kept_by_books = len(vouched)
    going = [r for r in candidates if r.id not in vouched]
    ids = [r.id for r in going]
    detail = report.detail
    transactions = table_of(LoanTransaction)
    tx_ids = [
        str(t)
        for part in _chunks(ids)
        for t in conn.execute(
            select(transactions.c.id).where(transactions.c.loan_id.in_(part))
        ).scalars()
    ]
    detail["journal_lines"] = _delete_in(conn, table_of(JournalLine), "transaction_id", tx_ids)
    detail["transactions"] = _delete_in(conn, transactions, "id", tx_ids)
    for name, model in (
        ("instalments", LoanInstalment),
        ("events", LoanEvent),
        ("intents", RepaymentIntent),
        ("refunds", LoanRefund),
        ("collections", CollectionsEntry),
    ):
        detail[name] = _delete_in(conn, table_of(model), "loan_id", ids)
    report.removed = _delete_in(conn, loans, "id", ids)
    kept_until = {
        r.decision_id
        for r in going
        if r.decision_id and _decision_time(conn, r.decision_id) >= _midnight(decisions.cutoff)
    }
    gone_decisions = [r.decision_id for r in going if r.decision_id not in kept_until]
    decisions.detail["with_their_loan"] = _remove_decisions(conn, gone_decisions, now)
    report.oldest_kept = _oldest(conn, loans, "created_at")


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _decision_time(conn: Connection, decision_id: str) -> datetime:
    decisions = table_of(DecisionRecord)
    at = conn.execute(
        select(decisions.c.created_at).where(decisions.c.id == decision_id)
    ).scalar_one()
    return at  # type: ignore[no-any-return]


def _vouched_loans(conn: Connection, loan_ids: Sequence[str]) -> set[str]:
    """Loans with a journal line on or before a completed day end: the log vouches for them."""
    runs = table_of(EodRun)
    last = conn.execute(
        select(func.max(runs.c.business_date)).where(runs.c.status == "completed")
    ).scalar()
    if last is None:
        return set()
    lines = table_of(JournalLine)
    vouched: set[str] = set()
    for part in _chunks(loan_ids):
        vouched.update(
            conn.execute(
                select(lines.c.loan_id)
                .where(lines.c.loan_id.in_(part), lines.c.business_date <= last)
                .distinct()
            ).scalars()
        )
    return vouched


def _decisions(conn: Connection, report: ClassReport, held: set[str], now: datetime) -> None:
    """Decisions past the period, unless their person still has a loan with us (kept: the
    decisions explain the credit we extended) or is held."""
    decisions = table_of(DecisionRecord)
    loans = table_of(Loan)
    rows = conn.execute(
        select(decisions.c.id, decisions.c.person_id).where(
            decisions.c.created_at < _midnight(report.cutoff)
        )
    ).all()
    borrowers = set(conn.execute(select(loans.c.person_id).distinct()).scalars())
    report.kept_with_loan = sum(1 for r in rows if r.person_id in borrowers)
    free = [r for r in rows if r.person_id not in borrowers]
    report.kept_by_hold = sum(1 for r in free if r.person_id in held)
    going = [r.id for r in free if r.person_id not in held]
    report.removed = _remove_decisions(conn, going, now) + report.detail.get("with_their_loan", 0)
    report.oldest_kept = _oldest(conn, decisions, "created_at")


def _remove_decisions(conn: Connection, ids: Sequence[str], now: datetime) -> int:
    """Delete decisions with their reviews and events; their audit commitments become
    unlinkable (salt and pseudonym destroyed, marked as an erasure's), the entries stay."""
    if not ids:
        return 0
    _delete_in(conn, table_of(DecisionEvent), "decision_id", ids)
    _delete_in(conn, table_of(ReviewRequest), "decision_id", ids)
    records = table_of(AuditRecord)
    for part in _chunks(ids):
        conn.execute(
            update(records)
            .where(records.c.kind == "decision", records.c.record_id.in_(part))
            .values(salt=None, person_id=None, erased_at=now)
        )
    return _delete_in(conn, table_of(DecisionRecord), "id", ids)
