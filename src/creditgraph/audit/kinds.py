"""The kinds of record the audit log commits to, and which of their fields it vouches for.

Each kind reads its live records' fields from the database by record id, many at a time. The
same reader serves the commitment written in the record's transaction and the recomputation of
``creditgraph audit verify``, so the two can only differ if the record changed.

A kind vouches for what a partner or an auditor relies on and leaves out bookkeeping that moves
on its own (an ingest batch's heartbeat, an alert's repeat count). A field that changes on
purpose (a consent revoked, a model promoted, an alert resolved) is committed again by the code
that changes it; the latest commitment of a record is the one its live record must match.
Large values are committed by their SHA-256 (a model's artifact, a decision's inputs and
reasons), which is what the issue of each kind asks the log to hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, func, select

from creditgraph.canonical import canonical_json, sha256_of
from creditgraph.store.models import (
    Alert,
    AlertAction,
    Consent,
    DecisionRecord,
    EodRun,
    IngestBatch,
    IngestFile,
    JournalLine,
    ModelVersion,
    WorkspaceAction,
    table_of,
)

Fields = dict[str, Any]
Loaded = dict[str, tuple[str | None, Fields]]
"""Record id -> (the person it is about, if any; the fields the log vouches for)."""

_CHUNK = 500


@dataclass(frozen=True)
class RecordKind:
    name: str
    label: str
    load: Callable[[Connection, Sequence[str]], Loaded]
    live_ids: Callable[[Connection], set[str]]
    """Every record of the kind that must have a commitment (finished batches, completed days)."""
    immutable: bool = False
    """Committed exactly once: a second commitment is itself a sign of tampering."""


def _ids(
    model: Any, where: Callable[[Table], list[Any]] | None = None
) -> Callable[[Connection], set[str]]:
    table = table_of(model)
    key = table.c.business_date if model is EodRun else table.c.id

    def read(conn: Connection) -> set[str]:
        query = select(key) if where is None else select(key).where(*where(table))
        return {
            v.isoformat() if isinstance(v, date) else str(v) for v in conn.execute(query).scalars()
        }

    return read


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _rows(conn: Connection, table: Table, key: str, ids: Sequence[str]) -> list[RowMapping]:
    column = table.c[key]
    rows: list[RowMapping] = []
    for part in _chunks(ids):
        values: Sequence[Any] = part
        if column.type.python_type is int:
            values = [int(v) for v in part if v.isdigit()]
        rows.extend(r._mapping for r in conn.execute(select(table).where(column.in_(values))))
    return rows


def _pick(row: Mapping[Any, Any] | RowMapping, names: Sequence[str]) -> Fields:
    return {name: _plain(row[name]) for name in names}


def _load_ingest_batches(conn: Connection, ids: Sequence[str]) -> Loaded:
    files = table_of(IngestFile)
    out: Loaded = {}
    for row in _rows(conn, table_of(IngestBatch), "id", ids):
        fields = _pick(
            row,
            ("name", "source", "started_at", "finished_at", "status", "content_sha256",
             "contract_version", "counts"),
        )  # fmt: skip
        listed = conn.execute(
            select(files.c.table_name, files.c.sha256, files.c.rows_read, files.c.accepted,
                   files.c.updated, files.c.duplicates, files.c.quarantined)
            .where(files.c.batch_id == row["id"])
            .order_by(files.c.id)
        )  # fmt: skip
        fields["files"] = [dict(f._mapping) for f in listed]
        out[str(row["id"])] = (None, fields)
    return out


def _load_consents(conn: Connection, ids: Sequence[str]) -> Loaded:
    names = ("person_id", "source", "purpose", "granted_at", "expires_at", "revoked_at",
             "sensitive", "text_version", "batch_id")  # fmt: skip
    out: Loaded = {}
    for row in _rows(conn, table_of(Consent), "id", ids):
        fields = _pick(row, names)
        if row["text_sha256"] is not None:  # the receipt's text hash (consents since 0018)
            fields["text_sha256"] = row["text_sha256"]
        out[str(row["id"])] = (row["person_id"], fields)
    return out


def _load_models(conn: Connection, ids: Sequence[str]) -> Loaded:
    names = ("family", "variant", "as_of", "feature_set_version", "training_data_sha256",
             "status", "created_at", "created_by", "promoted_by", "promoted_at")  # fmt: skip
    out: Loaded = {}
    for row in _rows(conn, table_of(ModelVersion), "id", ids):
        fields = _pick(row, names)
        fields["artifact_sha256"] = sha256_of(row["artifact"])
        fields["metrics_sha256"] = sha256_of(row["metrics"])
        metrics = row["metrics"] or {}
        fields["impact_assessment_id"] = metrics.get("impact_assessment_id")
        out[str(row["id"])] = (None, fields)
    return out


def _load_decisions(conn: Connection, ids: Sequence[str]) -> Loaded:
    names = ("created_at", "as_of", "person_id", "applicant_ref", "product_code", "amount_fen",
             "term_months", "purpose", "schedule_type", "outcome", "limit_fen", "pd", "score",
             "grade", "model_id", "policy_version", "policy_hash", "catalogue_version",
             "catalogue_hash", "config_version", "config_hash", "inputs_hash",
             "feature_snapshot_id", "features_as_of", "social_data_used")  # fmt: skip
    out: Loaded = {}
    for row in _rows(conn, table_of(DecisionRecord), "id", ids):
        fields = _pick(row, names)
        fields["reasons_sha256"] = sha256_of(row["reasons"])
        fields["fired_rules_sha256"] = sha256_of(row["fired_rules"])
        fields["offers_sha256"] = sha256_of(row["offers"])
        fields["inputs_sha256"] = sha256_of(row["inputs"])
        out[str(row["id"])] = (row["person_id"], fields)
    return out


def trial_balance_rows(conn: Connection, day: date) -> list[dict[str, Any]]:
    """Debits and credits in fen per account of every journal line dated on or before ``day``."""
    lines = table_of(JournalLine)
    query = (
        select(
            lines.c.account,
            func.sum(lines.c.debit_fen).label("debit_fen"),
            func.sum(lines.c.credit_fen).label("credit_fen"),
        )
        .where(lines.c.business_date <= day)
        .group_by(lines.c.account)
        .order_by(lines.c.account)
    )
    return [
        {"account": r.account, "debit_fen": int(r.debit_fen), "credit_fen": int(r.credit_fen)}
        for r in conn.execute(query)
    ]


def _digest(rows: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical_json(rows).encode("utf-8")).hexdigest()


def trial_balance_sha256(conn: Connection, day: date) -> str:
    """The SHA-256 of the trial balance as of ``day``, stored on the day end and committed."""
    return _digest(trial_balance_rows(conn, day))


def trial_balance_digests(conn: Connection, days: Sequence[date]) -> dict[date, str]:
    """The trial balance's SHA-256 as of each of ``days``, from one pass over the journal
    (sums by account and date, accumulated in date order): what ``audit verify`` recomputes
    for every day end at once instead of summing the whole journal once a day."""
    wanted = sorted(set(days))
    if not wanted:
        return {}
    lines = table_of(JournalLine)
    query = (
        select(
            lines.c.business_date,
            lines.c.account,
            func.sum(lines.c.debit_fen).label("debit_fen"),
            func.sum(lines.c.credit_fen).label("credit_fen"),
        )
        .where(lines.c.business_date <= wanted[-1])
        .group_by(lines.c.business_date, lines.c.account)
        .order_by(lines.c.business_date)
    )
    totals: dict[str, list[int]] = {}
    out: dict[date, str] = {}
    pending = iter(wanted)
    next_day: date | None = next(pending)

    def close_through(limit: date | None) -> date | None:
        day = next_day
        while day is not None and (limit is None or day < limit):
            rows = [
                {"account": account, "debit_fen": d, "credit_fen": c}
                for account, (d, c) in sorted(totals.items())
            ]
            out[day] = _digest(rows)
            day = next(pending, None)
        return day

    for row in conn.execute(query):
        next_day = close_through(row.business_date)
        if next_day is None:
            break
        sums = totals.setdefault(row.account, [0, 0])
        sums[0] += int(row.debit_fen)
        sums[1] += int(row.credit_fen)
    close_through(None)
    return out


def _load_days(conn: Connection, ids: Sequence[str]) -> Loaded:
    """A day end vouches for its status and the trial balance stored when it completed;
    ``audit verify`` also recomputes that balance from the journal (``trial_balance_digests``)."""
    runs = table_of(EodRun)
    out: Loaded = {}
    days = [date.fromisoformat(i) for i in ids]
    for part in [days[i : i + _CHUNK] for i in range(0, len(days), _CHUNK)]:
        for row in conn.execute(select(runs).where(runs.c.business_date.in_(part))):
            m = row._mapping
            fields = _pick(m, ("status", "loans_processed", "trial_balance_sha256"))
            out[m["business_date"].isoformat()] = (None, fields)
    return out


def _load_alerts(conn: Connection, ids: Sequence[str]) -> Loaded:
    names = ("type", "rule", "severity", "person_id", "status", "dedup_key", "occurred_at",
             "created_at", "acknowledged_by", "acknowledged_at", "resolved_by",
             "resolved_at")  # fmt: skip
    out: Loaded = {}
    for row in _rows(conn, table_of(Alert), "id", ids):
        fields = _pick(row, names)
        fields["evidence_sha256"] = sha256_of(row["evidence"])
        out[str(row["id"])] = (row["person_id"], fields)
    return out


def _load_alert_actions(conn: Connection, ids: Sequence[str]) -> Loaded:
    names = ("alert_id", "person_id", "action", "params", "outcome", "policy_version",
             "policy_hash", "actor", "at")  # fmt: skip
    return {
        str(row["id"]): (row["person_id"], _pick(row, names))
        for row in _rows(conn, table_of(AlertAction), "id", ids)
    }


def _load_workspace_actions(conn: Connection, ids: Sequence[str]) -> Loaded:
    names = ("at", "actor", "role", "action", "target", "outcome", "detail")
    return {
        str(row["id"]): (None, _pick(row, names))
        for row in _rows(conn, table_of(WorkspaceAction), "id", ids)
    }


KINDS: dict[str, RecordKind] = {
    kind.name: kind
    for kind in (
        RecordKind(
            "ingest_batch",
            "ingest batch",
            _load_ingest_batches,
            _ids(IngestBatch, lambda t: [t.c.status != "running"]),
        ),
        RecordKind("consent", "consent receipt", _load_consents, _ids(Consent)),
        RecordKind("model_version", "model version", _load_models, _ids(ModelVersion)),
        RecordKind("decision", "decision", _load_decisions, _ids(DecisionRecord), True),
        RecordKind(
            "day_end",
            "day end (trial balance)",
            _load_days,
            _ids(EodRun, lambda t: [t.c.status == "completed"]),
            True,
        ),
        RecordKind("alert", "alert", _load_alerts, _ids(Alert)),
        RecordKind("alert_action", "alert action", _load_alert_actions, _ids(AlertAction), True),
        RecordKind(
            "workspace_action",
            "workspace action",
            _load_workspace_actions,
            _ids(WorkspaceAction),
            True,
        ),
    )
}
"""Every kind of record the log commits to, by the name its entries carry."""


class UnknownKindError(KeyError):
    pass


def kind_of(name: str) -> RecordKind:
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKindError(
            f"no audit record kind {name!r}; known: {', '.join(sorted(KINDS))}"
        ) from None
