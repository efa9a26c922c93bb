"""Ingest a batch: check every file, then stream each through validation, pseudonymisation,
the consent gate and deduplication into the lake or the database, quarantining what fails.

Each input file is atomic: its lake part, its quarantine file and its database rows are
published together or not at all, even if the process is killed (see ``recovery``). A batch that
cannot be read at all writes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, insert, update

from creditgraph.audit import outbox as audit_log
from creditgraph.contracts.schema import CONTRACT_VERSION, Column, Namespace, TableSpec
from creditgraph.contracts.validate import (
    ROW,
    compile_query,
    rule_message,
    stored_name,
    validate_chunk,
)
from creditgraph.duck import arrow_table, connect
from creditgraph.ingest.consent_gate import (
    CONSENT_RELATION,
    OK,
    apply_gate,
    load_consents,
    refusal,
    text_refusals,
)
from creditgraph.ingest.database import WriteCounts, write_rows
from creditgraph.ingest.quarantine import Problem, QuarantineWriter, problems_json
from creditgraph.ingest.readers import Chunk, NeedsExactRowNumbers, read_chunks
from creditgraph.ingest.recovery import (
    BEATS_PER_LEASE,
    Heartbeat,
    Owner,
    Recovery,
    recover,
    utcnow,
)
from creditgraph.ingest.sources import SourceFile, resolve
from creditgraph.privacy.erasure import erased_ids
from creditgraph.privacy.keys import key_lock, master_key_file, open_master_key
from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
from creditgraph.settings import Settings
from creditgraph.store import lake
from creditgraph.store.db import migrated_engine, write_transaction
from creditgraph.store.models import IngestBatch, IngestFile, table_of
from creditgraph.store.pause_points import reached

Progress = Callable[[str, int, int | None], None]  # (label, rows done, rows total or None)
# What dates an external-loan report sent without reported_at: the ingest time (it is then
# unseen by every earlier as-of date) or, for historical loads, the loan's opened_at.
ReportedAtDefault = Literal["ingest-time", "opened_at"]
REPORTED_AT_DEFAULTS: tuple[ReportedAtDefault, ...] = ("ingest-time", "opened_at")


@dataclass
class FileReport:
    path: Path
    table: str
    rows_read: int = 0
    accepted: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    quarantine_file: Path | None = None
    ignored_columns: tuple[str, ...] = ()
    nulled_fields: int = 0  # invalid optional values nulled in stored rows (not quarantined)
    nulled: Counter[str] = field(default_factory=Counter)  # per "field:rule"
    dated_at_ingest: int = 0  # external-loan reports without reported_at, dated at ingest time
    dated_at_opened: int = 0  # ... dated at their opened_at (--reported-at-default opened_at)

    @property
    def quarantined_share(self) -> float:
        """The share of the file's rows refused (0 for an empty file)."""
        return self.quarantined / self.rows_read if self.rows_read else 0.0

    def over_limit(self, max_share: float) -> bool:
        """More than ``max_share`` of the rows quarantined, or every row of a non-empty file."""
        return self.rows_read > 0 and (
            self.quarantined_share > max_share or self.quarantined == self.rows_read
        )


@dataclass
class BatchReport:
    batch_id: str
    content_sha256: str
    files: list[FileReport]
    recovery: Recovery = field(default_factory=Recovery)  # what a killed earlier batch left

    def by_table(self) -> dict[str, dict[str, int]]:
        totals: dict[str, Counter[str]] = {}
        for f in self.files:
            t = totals.setdefault(f.table, Counter())
            t.update(
                rows_read=f.rows_read,
                accepted=f.accepted,
                updated=f.updated,
                duplicates=f.duplicates,
                quarantined=f.quarantined,
                nulled_fields=f.nulled_fields,
            )
            if f.table == "external_loans":
                t.update(dated_at_ingest=f.dated_at_ingest, dated_at_opened=f.dated_at_opened)
        return {k: {n: v.get(n, 0) for n in _count_names(k)} for k, v in totals.items()}

    def over_limit(self, max_share: float) -> list[FileReport]:
        """The files whose quarantined share passes ``max_share`` (see ``FileReport.over_limit``)."""
        return [f for f in self.files if f.over_limit(max_share)]

    def nulled(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.nulled)
        return total

    def dated_at_ingest(self) -> int:
        return sum(f.dated_at_ingest for f in self.files)

    def dated_at_opened(self) -> int:
        return sum(f.dated_at_opened for f in self.files)

    def reasons(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.reasons)
        return total


def _count_names(table: str) -> tuple[str, ...]:
    """The counts of a table in the batch record: the same keys every time, even when zero."""
    names = ("rows_read", "accepted", "updated", "duplicates", "quarantined", "nulled_fields")
    if table == "external_loans":
        return (*names, "dated_at_ingest", "dated_at_opened")
    return names


def _new_batch_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _batch_hash(files: list[SourceFile]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.spec.name}:{f.sha256}\n".encode())
    return digest.hexdigest()


def ingest(
    paths: list[Path],
    settings: Settings,
    *,
    table: str | None = None,
    batch_name: str | None = None,
    source: str | None = None,
    progress: Progress | None = None,
    clock: Callable[[], datetime] | None = None,
    reported_at_default: ReportedAtDefault = "ingest-time",
) -> BatchReport:
    """Ingest the files as one batch. Raises ``IngestInputError`` before writing if any is unreadable."""
    if reported_at_default not in REPORTED_AT_DEFAULTS:
        raise ValueError(f"reported_at_default must be one of {', '.join(REPORTED_AT_DEFAULTS)}")
    files = resolve(paths, table)
    now = (clock or (lambda: datetime.now(UTC)))().astimezone(UTC).replace(tzinfo=None)
    pseudonymiser = Pseudonymiser(load_or_create_key(settings.key_file))
    batch_id = _new_batch_id(now)
    report = BatchReport(batch_id, _batch_hash(files), [])
    # the lake's shared lock: ingests run side by side, never beside a compaction's rewrite;
    # the master key's shared lock: new people's data keys are never wrapped under a key that a
    # rotation is replacing (a rotation waits for the ingest, an ingest waits for a rotation)
    with (
        lake.lake_lock(settings.lake_dir, exclusive=False),
        key_lock(master_key_file(settings), exclusive=False),
        migrated_engine(settings.database_url) as engine,
    ):
        open_master_key(engine, master_key_file(settings))  # a lost or wrong key stops here
        report.recovery = recover(engine, settings)
        owner = Owner.this_process()
        with write_transaction(engine) as conn:
            conn.execute(
                insert(table_of(IngestBatch)).values(
                    id=batch_id,
                    name=batch_name,
                    source=source,
                    started_at=now,
                    status="running",
                    content_sha256=report.content_sha256,
                    contract_version=CONTRACT_VERSION,
                    counts={},
                    owner_host=owner.host,
                    owner_pid=owner.pid,
                    owner_started=owner.started,
                    heartbeat_at=utcnow(),
                )
            )
        reached("batch_started")
        con = connect(settings.timezone)
        status = "failed"
        try:
            beat = timedelta(seconds=settings.ingest_lease_seconds) / BEATS_PER_LEASE
            with Heartbeat(engine, batch_id, beat):
                for index, f in enumerate(files):
                    job = _FileJob(
                        f, index, batch_id, now, source, settings, engine, con, pseudonymiser
                    )
                    job.reported_at_default = reported_at_default
                    report.files.append(job.run(progress))
                reached("batch_finishing")
            status = "done"
        finally:
            con.close()
            with write_transaction(engine) as conn:
                conn.execute(
                    update(table_of(IngestBatch))
                    .where(table_of(IngestBatch).c.id == batch_id)
                    .values(status=status, finished_at=utcnow(), counts=report.by_table())
                )
                audit_log.record(conn, "ingest_batch", batch_id)
    return report


class _FileJob:
    """One input file through the pipeline, retried with exact row numbers if the CSV is ragged."""

    def __init__(
        self,
        source_file: SourceFile,
        index: int,
        batch_id: str,
        now: datetime,
        default_source: str | None,
        settings: Settings,
        engine: Engine,
        con: duckdb.DuckDBPyConnection,
        pseudonymiser: Pseudonymiser,
    ) -> None:
        self.f = source_file
        self.spec: TableSpec = source_file.spec
        self.index = index
        self.batch_id = batch_id
        self.now = now
        self.default_source = default_source
        self.settings = settings
        self.engine = engine
        self.con = con
        self.pseudonymiser = pseudonymiser
        contract = {c.name for c in self.spec.all_columns}
        self.columns = [c for c in source_file.columns if c in contract]
        self.ignored = tuple(c for c in source_file.columns if c not in contract)
        self.query = compile_query(self.spec, set(self.columns))
        # the name of this file's lake part and quarantine file, recorded with its rows
        self.part = f"{index:03d}-{source_file.path.name.split('.')[0]}"
        self.quarantine_path = settings.quarantine_dir / batch_id / f"{self.part}.jsonl"
        self.erased = pa.array([], type=pa.string())
        self.reported_at_default: ReportedAtDefault = "ingest-time"
        self.notes: dict[int, list[str]] = {}  # this chunk's nulled values, by _row

    def run(self, progress: Progress | None) -> FileReport:
        try:
            return self._run(exact=False, progress=progress)
        except NeedsExactRowNumbers:
            return self._run(exact=True, progress=progress)

    def _run(self, exact: bool, progress: Progress | None) -> FileReport:
        """One file as one atomic step: its rows, its record (naming its part) and its sealed
        staged files commit in one transaction; the staged files are renamed into place after,
        and recovery finishes that rename if the process dies in between."""
        report = FileReport(self.f.path, self.spec.name, ignored_columns=self.ignored)
        quarantine = QuarantineWriter(
            self.quarantine_path, self.spec, self.f.path, self.pseudonymiser
        )
        writer = (
            lake.LakeWriter(self.settings.lake_dir, self.spec, self.batch_id, self.part)
            if self.spec.destination == "lake"
            else None
        )
        total = self._total_rows()
        try:
            with self.engine.begin() as conn:
                self.erased = pa.array(sorted(erased_ids(conn)), type=pa.string())
                keys = None
                if writer is not None:
                    keys = lake.KeySet(
                        lake.existing_keys(self.con, self.settings.lake_dir, self.spec.name)
                    )
                    if self.spec.consent_subject:
                        self.con.register(CONSENT_RELATION, load_consents(conn))
                for chunk in read_chunks(
                    self.f.path,
                    self.f.file_format,
                    self.columns,
                    self.settings.ingest_chunk_rows,
                    exact,
                ):
                    self._chunk(chunk, conn, report, quarantine, writer, keys)
                    if progress:
                        progress(f"{self.spec.name} ({self.f.path.name})", report.rows_read, total)
                if writer is not None:
                    writer.seal()
                quarantine.seal()
                reached("file_staged")
                conn.execute(
                    insert(table_of(IngestFile)).values(
                        batch_id=self.batch_id,
                        table_name=self.spec.name,
                        path=str(self.f.path),
                        file_format=self.f.file_format,
                        sha256=self.f.sha256,
                        rows_read=report.rows_read,
                        accepted=report.accepted,
                        updated=report.updated,
                        duplicates=report.duplicates,
                        quarantined=report.quarantined,
                        ignored_columns=list(self.ignored),
                        part=self.part,
                    )
                )
        except BaseException:
            if writer is not None:
                writer.discard()
            quarantine.discard()
            raise
        reached("file_recorded")
        if writer is not None:
            writer.publish()
        report.quarantine_file = quarantine.publish()
        reached("file_published")
        report.reasons = quarantine.counts
        report.nulled = quarantine.nulled
        return report

    def _total_rows(self) -> int | None:
        if self.f.file_format == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(self.f.path).metadata.num_rows)
        return None

    def _chunk(
        self,
        chunk: Chunk,
        conn: Connection,
        report: FileReport,
        quarantine: QuarantineWriter,
        writer: lake.LakeWriter | None,
        keys: lake.KeySet | None,
    ) -> None:
        report.rows_read += chunk.size
        raw = chunk.rows
        for bad in chunk.malformed:
            quarantine.add_malformed(bad.row, [Problem("*", bad.rule, bad.message)], bad.raw)
        result = validate_chunk(self.con, self.query, raw)
        if len(result.invalid_rows):
            texts: dict[tuple[str, ...], str] = {}
            column = []
            for errors in result.invalid_errors:
                key = tuple(errors)
                text = texts.get(key)
                if text is None:
                    text = texts[key] = problems_json([self._problem(e) for e in errors])
                column.append(text)
                for error in errors:
                    quarantine.counts[error.split(":", 1)[1]] += 1
            quarantine.add_rows(self.con, _raw_rows(raw, result.invalid_rows), pa.array(column))
        valid = result.valid
        self.notes = dict(zip(result.noted_rows.to_pylist(), result.noted, strict=True))
        if valid.num_rows:
            if writer is not None and keys is not None:
                stored = self._to_lake(raw, valid, quarantine, writer, keys, report)
            else:
                stored = self._to_database(raw, valid, conn, quarantine, report)
            self._note(raw, stored, quarantine)
        report.quarantined = quarantine.rows
        report.nulled_fields = sum(quarantine.nulled.values())

    def _note(self, raw: pa.Table, stored: pa.Array, quarantine: QuarantineWriter) -> None:
        """Note the values nulled in rows that got past every check (stored or duplicates)."""
        if not self.notes:
            return
        noted = pa.array(list(self.notes), type=pa.int64())
        rows = noted.filter(pc.is_in(noted, value_set=stored)).to_pylist()
        if not rows:
            return
        texts: dict[tuple[str, ...], str] = {}
        column = []
        for row in rows:
            key = tuple(self.notes[row])
            text = texts.get(key)
            if text is None:
                text = texts[key] = problems_json([self._problem(n) for n in key])
            column.append(text)
            quarantine.nulled.update(key)
        quarantine.add_notes(
            self.con,
            _raw_rows(raw, pa.array(rows, type=pa.int64())),
            pa.array(column, type=pa.string()),
        )

    def _problem(self, error: str) -> Problem:
        field_name, rule = error.split(":", 1)
        return Problem(field_name, rule, rule_message(self.spec, field_name, rule))

    def _pseudonymise(self, valid: pa.Table) -> pa.Table:
        for column in self.spec.all_columns:
            if column.pseudonymise is not None and not column.personal:
                index = valid.schema.get_field_index(column.name)
                valid = valid.set_column(
                    index,
                    column.name,
                    self.pseudonymiser.column(column.pseudonymise, valid[column.name]),
                )
        return valid

    def _drop_erased(
        self, raw: pa.Table, valid: pa.Table, quarantine: QuarantineWriter
    ) -> pa.Table:
        """Rows about a person erased on request are refused: erasure is for good."""
        if not len(self.erased) or valid.num_rows == 0:
            return valid
        hit = None
        for column in self.spec.all_columns:
            if column.pseudonymise is Namespace.PERSON and column.name in valid.column_names:
                mask = pc.is_in(valid[column.name], value_set=self.erased)
                hit = mask if hit is None else pc.or_(hit, mask)
        if hit is None or not pc.any(hit).as_py():
            return valid
        refused = valid.filter(hit)
        problem = Problem(
            "person_id", "erased_person", "the row is about a person erased on request"
        )
        quarantine.counts["erased_person"] += refused.num_rows
        quarantine.add_rows(
            self.con,
            _raw_rows(raw, refused[ROW]),
            pa.array([problems_json([problem])] * refused.num_rows, type=pa.string()),
        )
        return valid.filter(pc.invert(hit))

    def _refuse_bad_texts(
        self, raw: pa.Table, valid: pa.Table, quarantine: QuarantineWriter
    ) -> pa.Table:
        """Consent rows whose text cannot back them are quarantined, as the API refuses them."""
        refused, rules, problems = text_refusals(valid)
        if not len(refused):
            return valid
        quarantine.counts.update(rules)
        quarantine.add_rows(self.con, _raw_rows(raw, refused), problems)
        return valid.filter(pc.invert(pc.is_in(valid[ROW], value_set=refused)))

    def _to_lake(
        self,
        raw: pa.Table,
        valid: pa.Table,
        quarantine: QuarantineWriter,
        writer: lake.LakeWriter,
        keys: lake.KeySet,
        report: FileReport,
    ) -> pa.Array:
        """Write the new rows; return the ``_row`` of every row that passed (new or duplicate)."""
        valid = self._drop_erased(raw, self._pseudonymise(valid), quarantine)
        if self.default_source is not None and "source" in valid.column_names:
            index = valid.schema.get_field_index("source")
            valid = valid.set_column(
                index, "source", pc.fill_null(valid["source"], self.default_source)
            )
        if self.spec.consent_subject:
            gated = apply_gate(self.con, self.spec, valid)
            refused = gated.filter(pc.invert(gated[OK]))
            if refused.num_rows:
                problem = Problem(self.spec.consent_subject, "no_consent", refusal(self.spec))
                quarantine.counts["no_consent"] += refused.num_rows
                text = problems_json([problem])
                quarantine.add_rows(
                    self.con,
                    _raw_rows(raw, refused[ROW]),
                    pa.array([text] * refused.num_rows, type=pa.string()),
                )
            valid = gated.filter(gated[OK]).drop_columns([OK])
        keyed = _with_row_key(self.con, self.spec, valid)
        new = keys.add_new(np.asarray(keyed[lake.ROW_KEY].to_numpy(), dtype=np.uint64))
        report.duplicates += int((~new).sum())
        report.accepted += int(new.sum())
        writer.write(keyed.filter(pa.array(new)))
        return keyed[ROW].combine_chunks()

    def _to_database(
        self,
        raw: pa.Table,
        valid: pa.Table,
        conn: Connection,
        quarantine: QuarantineWriter,
        report: FileReport,
    ) -> pa.Array:
        """Upsert the rows; return the ``_row`` of every row that passed (written or duplicate)."""
        identities: list[dict[str, Any]] | None = None
        if self.spec.name == "persons":
            identities = _identities(valid, self.pseudonymiser)
            valid = valid.drop_columns(["name", "phone"]).append_column(
                "phone_pseudonym",
                pa.array([i["phone_pseudonym"] for i in identities], type=pa.string()),
            )
            for i in identities:
                del i["phone_pseudonym"]
        valid = self._drop_erased(raw, self._pseudonymise(valid), quarantine)
        if self.spec.name == "consents":
            valid = self._refuse_bad_texts(raw, valid, quarantine)
        undated: set[int] = set()
        if self.spec.name == "external_loans":
            valid, undated = self._date_reports(valid)
        rows = valid.to_pylist()
        counts: WriteCounts = write_rows(
            conn, self.spec.name, rows, identities, self.batch_id, self.now
        )
        report.accepted += counts.inserted
        report.updated += counts.updated
        report.duplicates += counts.duplicates
        dated = len(undated - set(counts.unknown_person_rows))
        if self.reported_at_default == "opened_at":
            report.dated_at_opened += dated
        else:
            report.dated_at_ingest += dated
        if counts.unknown_person_rows:
            lost = pa.array(counts.unknown_person_rows, type=pa.int64())
            problem = Problem("person_id", "unknown_person", "person_id is not a known person")
            quarantine.counts["unknown_person"] += len(lost)
            text = problems_json([problem])
            quarantine.add_rows(
                self.con, _raw_rows(raw, lost), pa.array([text] * len(lost), type=pa.string())
            )
            return valid.filter(pc.invert(pc.is_in(valid[ROW], value_set=lost)))[
                ROW
            ].combine_chunks()
        return valid[ROW].combine_chunks()

    def _date_reports(self, valid: pa.Table) -> tuple[pa.Table, set[int]]:
        """Reports without reported_at: their rows, and with ``opened_at`` their date filled.

        With the default the database writer dates them at the ingest time (after hashing, so a
        re-sent undated report is a duplicate).
        """
        missing = pc.is_null(valid["reported_at"])
        undated = set(valid.filter(missing)[ROW].to_pylist())
        if undated and self.reported_at_default == "opened_at":
            index = valid.schema.get_field_index("reported_at")
            filled = pc.if_else(missing, valid["opened_at"], valid["reported_at"])
            valid = valid.set_column(index, "reported_at", filled)
        return valid, undated


def _identities(valid: pa.Table, pseudonymiser: Pseudonymiser) -> list[dict[str, Any]]:
    out = []
    for row, external, name, phone in zip(
        valid[ROW].to_pylist(),
        valid["person_id"].to_pylist(),
        valid["name"].to_pylist(),
        valid["phone"].to_pylist(),
        strict=True,
    ):
        out.append(
            {
                "_row": row,
                "person_id": pseudonymiser.one(Namespace.PERSON, external),
                "external_id": external,
                "name": name,
                "phone": phone,
                "phone_pseudonym": pseudonymiser.one(Namespace.PHONE, _digits(phone))
                if phone
                else None,
            }
        )
    return out


def _digits(phone: str) -> str:
    """Phones are compared by their digits, so ``+86 138-0000-0000`` and ``8613800000000`` match."""
    return "".join(ch for ch in phone if ch.isdigit())


def _raw_rows(raw: pa.Table, rows: pa.Array | pa.ChunkedArray) -> pa.Table:
    """The rows as they were read, in the order of ``rows``, for the quarantine."""
    if isinstance(rows, pa.ChunkedArray):
        rows = rows.combine_chunks()
    positions = pc.index_in(rows, value_set=raw[ROW])
    return raw.take(positions)


def _with_row_key(con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pa.Table) -> pa.Table:
    names = [stored_name(spec.column(k)) for k in spec.natural_key]
    parts = ", ".join(f'coalesce(CAST("{n}" AS VARCHAR), chr(0))' for n in names)
    con.register("keyed_rows", rows)
    try:
        return arrow_table(
            con,
            f"SELECT *, md5_number_lower(concat_ws(chr(31), {parts})) AS {lake.ROW_KEY} FROM keyed_rows",
        )
    finally:
        con.unregister("keyed_rows")


def lake_columns(spec: TableSpec) -> list[Column]:
    return [c for c in spec.all_columns if not c.personal]
