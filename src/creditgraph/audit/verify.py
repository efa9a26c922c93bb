"""Full verification: every leaf recomputed from the live records, the whole tree from its leaves.

What is checked, leaf by leaf in tree order:

* each day end's stored trial balance against the journal as it stands (one pass for all days);
* each logged record's latest commitment against the commitment recomputed from the record as it
  stands now (its fields by :mod:`creditgraph.audit.kinds`, its salt): a changed field, a changed
  salt or a deleted record is caught here, unless erasure destroyed the salt (then the entry is
  unlinkable by design and only counted);
* each stored entry (the bundles partners read) against the entry its commitment makes;
* every stored tile hash, at every level, against the tree rebuilt from the entries;
* the rebuilt root at the latest published checkpoint's size against the root that checkpoint
  signs, and the checkpoint's signature against the log's key.

Commitments not yet integrated are checked against their records too. The report names the
first leaf (lowest index) with any problem, with its record kind and id, so an auditor goes
straight to the changed record.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select

from creditgraph.audit import commitment, merkle, note, tile_store
from creditgraph.audit.checkpoint import CheckpointError, open_checkpoint
from creditgraph.audit.kinds import KINDS, trial_balance_digests
from creditgraph.audit.sequencer import latest
from creditgraph.audit.tiles import TILE_WIDTH, Bundle, Tile, decode_bundle, split_hashes
from creditgraph.store.models import AuditRecord, EodRun, Erasure, table_of

RECORDS = table_of(AuditRecord)
CHUNK = 4_096


@dataclass(frozen=True)
class Problem:
    """One thing found changed: where (leaf index, None if not yet integrated) and what."""

    leaf_index: int | None
    kind: str | None
    record_id: str | None
    what: str

    def describe(self) -> str:
        if self.leaf_index is not None:
            where = f"leaf {self.leaf_index}"
        elif self.kind is not None:
            where = "a record with no leaf"
        else:
            where = "the log"
        record = f" ({self.kind} {self.record_id})" if self.kind else ""
        return f"{where}{record}: {self.what}"


@dataclass
class VerifyReport:
    tree_size: int = 0
    checkpoint_size: int | None = None
    entries: int = 0
    records_checked: int = 0
    superseded: int = 0
    unlinkable: int = 0
    pending: int = 0
    tiles_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The problem at the lowest leaf index; pending entries after every leaf."""
        if not self.problems:
            return None
        return min(
            self.problems,
            key=lambda p: (p.leaf_index is None, p.leaf_index or 0),
        )


Progress = Callable[[int], None]


def verify(
    engine: Engine,
    log_verifiers: Sequence[note.Verifier],
    *,
    origin: str | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Check the whole log against the live records; ``progress`` is called with leaves done."""
    report = VerifyReport()
    with engine.connect() as conn:
        report.tree_size = tile_store.tree_size(conn)
        latest_ids = _latest_record_ids(conn)
        erased = set(conn.execute(select(table_of(Erasure).c.person_id)).scalars())
        leaf_hashes: list[bytes] = []
        for rows, entries in _chunks(conn, report.tree_size):
            _check_chunk(conn, rows, entries, latest_ids, erased, leaf_hashes, report)
            if progress is not None:
                progress(len(leaf_hashes))
        _check_pending(conn, latest_ids, erased, report)
        _check_immutable(conn, report)
        _check_complete(conn, report)
        _check_books(conn, report)
        _check_tiles(conn, leaf_hashes, report)
        _check_checkpoint(conn, leaf_hashes, log_verifiers, origin, report)
    return report


def _latest_record_ids(conn: Connection) -> set[int]:
    query = select(func.max(RECORDS.c.id)).group_by(RECORDS.c.kind, RECORDS.c.record_id)
    return {int(i) for i in conn.execute(query).scalars()}


def _check_immutable(conn: Connection, report: VerifyReport) -> None:
    """A record of an immutable kind (a decision, a day end, an alert action) is committed
    once; a second commitment is how a changed record would be made to look logged."""
    immutable = [name for name, spec in KINDS.items() if spec.immutable]
    first = (
        select(func.min(RECORDS.c.id))
        .where(RECORDS.c.kind.in_(immutable))
        .group_by(RECORDS.c.kind, RECORDS.c.record_id)
    )
    again = conn.execute(
        select(RECORDS.c.leaf_index, RECORDS.c.kind, RECORDS.c.record_id)
        .where(RECORDS.c.kind.in_(immutable), RECORDS.c.id.not_in(first.scalar_subquery()))
        .order_by(RECORDS.c.id)
    ).all()
    for row in again:
        report.problems.append(
            Problem(
                row.leaf_index, row.kind, row.record_id, "an immutable record was committed again"
            )
        )


def _check_books(conn: Connection, report: VerifyReport) -> None:
    """Each logged day end's stored trial balance against the journal as it stands now: a line
    changed, added or removed on or before a closed day is named at that day's entry."""
    runs = table_of(EodRun)
    stored = {
        row.business_date: row.trial_balance_sha256
        for row in conn.execute(
            select(runs.c.business_date, runs.c.trial_balance_sha256).where(
                runs.c.status == "completed"
            )
        )
    }
    leaves = {
        row.record_id: row.leaf_index
        for row in conn.execute(
            select(RECORDS.c.record_id, RECORDS.c.leaf_index)
            .where(RECORDS.c.kind == "day_end", RECORDS.c.salt.is_not(None))
            .order_by(RECORDS.c.id)
        )
    }
    days = [day for day in stored if day.isoformat() in leaves]
    for day, digest in sorted(trial_balance_digests(conn, days).items()):
        if stored[day] != digest:
            report.problems.append(
                Problem(
                    leaves[day.isoformat()],
                    "day_end",
                    day.isoformat(),
                    "the books as of the day no longer match its trial balance",
                )
            )


def _check_complete(conn: Connection, report: VerifyReport) -> None:
    """Every live record of a logged kind has a commitment: a record written behind the
    application's back (or before the log began, until ``audit backfill``) is named."""
    for name, spec in KINDS.items():
        committed = set(
            conn.execute(
                select(RECORDS.c.record_id).where(RECORDS.c.kind == name).distinct()
            ).scalars()
        )
        for record_id in sorted(spec.live_ids(conn) - committed):
            report.problems.append(
                Problem(None, name, record_id, "the record has no commitment in the log")
            )


def _chunks(conn: Connection, size: int) -> Iterator[tuple[dict[int, Row[Any]], list[bytes]]]:
    """The audit records and stored entries of leaves [start, start + CHUNK), in order."""
    for start in range(0, size, CHUNK):
        end = min(size, start + CHUNK)
        rows = {
            int(row.leaf_index): row
            for row in conn.execute(
                select(RECORDS).where(RECORDS.c.leaf_index >= start, RECORDS.c.leaf_index < end)
            )
        }
        entries: list[bytes] = []
        for index in range(start // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1):
            width = min(TILE_WIDTH, size - index * TILE_WIDTH)
            data = tile_store.read_bundle(conn, Bundle(index, width))
            got = decode_bundle(data) if data is not None else []
            got += [b""] * (width - len(got))  # a missing or short bundle: empty entries
            entries.extend(got[:width])
        yield rows, entries[: end - start]


def _check_chunk(
    conn: Connection,
    rows: dict[int, Row[Any]],
    entries: list[bytes],
    latest_ids: set[int],
    erased: set[str],
    leaf_hashes: list[bytes],
    report: VerifyReport,
) -> None:
    start = len(leaf_hashes)
    to_open: dict[str, list[tuple[int | None, Row[Any]]]] = {}
    for offset, data in enumerate(entries):
        index = start + offset
        leaf_hashes.append(merkle.leaf_hash(data))
        report.entries += 1
        row = rows.get(index)
        if row is None:
            report.problems.append(Problem(index, None, None, "no audit record holds this leaf"))
            continue
        kind, record_id = row.kind, row.record_id
        expected = commitment.entry(kind, bytes(row.commitment))
        if not hmac.compare_digest(data, expected):
            report.problems.append(
                Problem(index, kind, record_id, "the stored entry differs from its commitment")
            )
        if row.id not in latest_ids:
            report.superseded += 1
        else:
            to_open.setdefault(kind, []).append((index, row))
    _open_records(conn, to_open, erased, report)


def _open_records(
    conn: Connection,
    to_open: dict[str, list[tuple[int | None, Row[Any]]]],
    erased: set[str],
    report: VerifyReport,
) -> None:
    """Recompute each record's commitment from its live fields and its salt; a destroyed salt
    must be erasure's: marked so, and the record gone or about an erased person."""
    for kind, items in to_open.items():
        spec = KINDS.get(kind)
        if spec is None:
            for index, row in items:
                report.problems.append(Problem(index, kind, row.record_id, "unknown record kind"))
            continue
        loaded = spec.load(conn, [row.record_id for _, row in items])
        for index, row in items:
            record_id = row.record_id
            found = loaded.get(record_id)
            if row.salt is None:
                if row.erased_at is None:
                    why = "its salt was destroyed, but not by an erasure"
                elif found is not None and found[0] not in erased:
                    why = "its salt was destroyed, but the record's person was not erased"
                else:
                    report.unlinkable += 1
                    continue
                report.problems.append(Problem(index, kind, record_id, why))
                continue
            report.records_checked += 1
            if found is None:
                report.problems.append(Problem(index, kind, record_id, "the record is gone"))
                continue
            message = commitment.opening(kind, record_id, found[1])
            fresh = commitment.commit(bytes(row.salt), message)
            if not hmac.compare_digest(fresh, bytes(row.commitment)):
                report.problems.append(
                    Problem(index, kind, record_id, "the record (or its salt) changed since logged")
                )


def _check_pending(
    conn: Connection, latest_ids: set[int], erased: set[str], report: VerifyReport
) -> None:
    pending = conn.execute(
        select(RECORDS).where(RECORDS.c.leaf_index.is_(None)).order_by(RECORDS.c.id)
    ).all()
    report.pending = len(pending)
    to_open: dict[str, list[tuple[int | None, Row[Any]]]] = {}
    for row in pending:
        if row.id in latest_ids:
            to_open.setdefault(row.kind, []).append((None, row))
    _open_records(conn, to_open, erased, report)


def _check_tiles(conn: Connection, leaf_hashes: list[bytes], report: VerifyReport) -> None:
    """Every stored tile against the tree rebuilt from the entries; a difference is named at
    the first leaf under the first differing hash."""
    level, hashes = 0, leaf_hashes
    while hashes:
        span = TILE_WIDTH**level  # leaves under one hash of this tile level
        for index in range((len(hashes) + TILE_WIDTH - 1) // TILE_WIDTH):
            expected = hashes[index * TILE_WIDTH : (index + 1) * TILE_WIDTH]
            stored = tile_store.read_tile(conn, Tile(level, index, len(expected)))
            report.tiles_checked += 1
            got = split_hashes(stored) if stored is not None else []
            for position, want in enumerate(expected):
                if position >= len(got) or got[position] != want:
                    leaf = (index * TILE_WIDTH + position) * span
                    report.problems.append(
                        Problem(
                            leaf, None, None, f"stored tile hash changed (tile {level}/{index})"
                        )
                    )
                    break
        if len(hashes) < TILE_WIDTH:
            break
        full = len(hashes) // TILE_WIDTH
        hashes = [
            merkle.root_of_hashes(hashes[i * TILE_WIDTH : (i + 1) * TILE_WIDTH])
            for i in range(full)
        ]
        level += 1


def _check_checkpoint(
    conn: Connection,
    leaf_hashes: list[bytes],
    log_verifiers: Sequence[note.Verifier],
    origin: str | None,
    report: VerifyReport,
) -> None:
    published = latest(conn)
    if published is None:
        return
    try:
        opened = None
        for verifier in log_verifiers:
            try:
                opened = open_checkpoint(
                    published.note,
                    origin=origin or verifier.name,
                    verifier=verifier,
                )
                break
            except (note.NoteError, CheckpointError):
                continue
        if opened is None:
            raise CheckpointError("no log key verifies it")
    except CheckpointError as exc:
        report.problems.append(Problem(None, None, None, f"the latest published checkpoint: {exc}"))
        return
    checkpoint = opened.checkpoint
    report.checkpoint_size = checkpoint.size
    if checkpoint.size > len(leaf_hashes):
        report.problems.append(
            Problem(
                len(leaf_hashes),
                None,
                None,
                f"the checkpoint signs size {checkpoint.size}, the tree holds {len(leaf_hashes)}",
            )
        )
        return
    rebuilt = merkle.root_of_hashes(leaf_hashes[: checkpoint.size])
    if rebuilt != checkpoint.root_hash:
        report.problems.append(
            Problem(
                None,
                None,
                None,
                f"the tree rebuilt to size {checkpoint.size} has root {rebuilt.hex()}, "
                f"the signed checkpoint {checkpoint.root_hash.hex()}",
            )
        )
