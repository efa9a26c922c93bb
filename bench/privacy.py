"""Benchmark: encrypted personal fields and erasure, each beside its plaintext baseline.

(a) Ingest of a persons file with field encryption (a data key per person, AES-GCM per field)
    vs the same ingest with encryption off (the same columns written as plain UTF-8 bytes):
    overhead in % of ingest time. Target < 20%.
(b) Decrypting one person's fields (six AES-GCM opens, key unwrapped and cached) vs a plain
    SELECT of the person's identity row; and the whole ``read_identity`` (SELECT, key, decrypt).
    Target < 0.1 ms for the decryption.
(c) Erasure of one person on a ``--people`` database (built by bulk insert, not by the
    simulator): ``privacy.erasure.erase`` (key shredded, rows deleted, mentions in others'
    events, legal hold, tombstone, WAL checkpoint) vs deleting the same rows by person alone.
    Target < 100 ms.

    python bench/privacy.py --people 1000000 [--ingest-people 100000] [--workdir /tmp/cg-privacy]
    python bench/privacy.py --parts a          # the ingest overhead alone

Runs in one process on SQLite; the figures are medians of repeated runs.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import statistics
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from creditgraph.ingest import database as ingest_database
from creditgraph.ingest.service import ingest
from creditgraph.privacy import fieldcrypt
from creditgraph.privacy.erasure import MONITORING_TABLES, erase
from creditgraph.privacy.keys import KeyProvider, master_key_file, open_master_key
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine, upgrade
from creditgraph.store.models import (
    Alert,
    Consent,
    Erasure,
    EventOutbox,
    ExternalLoan,
    IngestBatch,
    LoanOutcome,
    OnlineFeatures,
    Person,
    PersonIdentity,
    PersonKey,
    table_of,
)

TARGET_OVERHEAD = 0.20
TARGET_DECRYPT_MS = 0.1
TARGET_ERASE_MS = 100.0
CHUNK = 20_000
NOW = datetime(2026, 12, 1)
COLUMNS = [
    "person_id",
    "segment",
    "region_tier",
    "birth_year",
    "gender",
    "occupation",
    "declared_monthly_income",
    "registered_at",
    "name",
    "phone",
    "id_number",
    "note",
]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(i: int) -> str:
    body = f"110105{1950 + i % 50:04d}0101{i % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def persons_csv(path: Path, people: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(people):
            writer.writerow(
                [
                    f"BENCH-{i:08d}",
                    "salaried",
                    "tier2",
                    1970 + i % 30,
                    "female" if i % 2 else "male",
                    "clerk",
                    f"{5000 + i % 7000}.50",
                    "2025-03-01",
                    f"姓名{i}",
                    f"139{i:08d}",
                    id_number(i),
                    f"note {i}",
                ]
            )
    return path


class PlainSealer:
    """The baseline: personal fields written as plain UTF-8 bytes (encryption off)."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider

    def keys_for(
        self, conn: Connection, person_ids: Iterable[str], new: Collection[str] = ()
    ) -> None:
        return None

    def seal(self, person_id: str, field: str, value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    def seal_many(
        self, person_id: str, values: Mapping[str, str | None]
    ) -> dict[str, bytes | None]:
        return {f: None if v is None else v.encode() for f, v in values.items()}

    def digest(self, person_id: str, text: str) -> str:
        return text


def ingest_seconds(work: Path, people_csv: Path, encrypted: bool, run: int) -> float:
    home = work / f"ingest-{'enc' if encrypted else 'plain'}-{run}"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home)
    sealer: Any = fieldcrypt.FieldSealer if encrypted else PlainSealer
    original = ingest_database.FieldSealer
    ingest_database.FieldSealer = sealer  # type: ignore[misc]
    try:
        started = time.perf_counter()
        ingest([people_csv], settings)
        return time.perf_counter() - started
    finally:
        ingest_database.FieldSealer = original  # type: ignore[misc]
        shutil.rmtree(home, ignore_errors=True)


def bench_ingest(work: Path, people: int, runs: int) -> tuple[float, float]:
    people_csv = persons_csv(work / "persons.csv", people)
    enc, plain = [], []
    for run in range(runs):  # alternated, so drift on the shared machine hits both alike
        plain.append(ingest_seconds(work, people_csv, False, run))
        enc.append(ingest_seconds(work, people_csv, True, run))
    return min(enc), min(plain)


# --- the large database ------------------------------------------------------------------------


def _pid(i: int) -> str:
    return f"{i:032x}"


def build_database(engine: Engine, provider: KeyProvider, people: int) -> None:
    """Persons with their keys and sealed identities, a consent, online features, an external
    loan for one in three, one event per person naming a contact, an alert for one in a
    hundred naming two ring members: bulk inserts."""
    now = NOW
    with engine.begin() as conn:
        conn.execute(
            insert(table_of(IngestBatch)).values(
                id="bench", started_at=now, status="done", content_sha256="0" * 64,
                contract_version="1", counts={},
            )
        )  # fmt: skip
    for start in range(0, people, CHUNK):
        ids = [_pid(i) for i in range(start, min(people, start + CHUNK))]
        with engine.begin() as conn:
            sealer = fieldcrypt.FieldSealer(provider)
            sealer.keys_for(conn, ids)
            conn.execute(
                insert(table_of(Person)),
                [
                    {
                        "person_id": p, "segment": "salaried", "region_tier": "tier2",
                        "birth_year": 1990, "gender": None, "occupation": "clerk",
                        "declared_monthly_income_enc": sealer.seal(p, "declared_monthly_income", "800000"),
                        "registered_at": now, "phone_pseudonym": None, "fold": 0,
                        "row_hash": "0" * 32, "batch_id": "bench", "created_at": now,
                        "updated_at": now,
                    }
                    for p in ids
                ],
            )  # fmt: skip
            conn.execute(
                insert(table_of(PersonIdentity)),
                [
                    {
                        "person_id": p, "external_id": sealer.seal(p, "external_id", f"EXT-{p}"),
                        "name": sealer.seal(p, "name", "张三"),
                        "phone": sealer.seal(p, "phone", "13900000000"),
                        "id_number": sealer.seal(p, "id_number", id_number(7)),
                        "note": None,
                    }
                    for p in ids
                ],
            )  # fmt: skip
            conn.execute(
                insert(table_of(Consent)),
                [
                    {
                        "person_id": p, "source": "wechat", "purpose": "credit_assessment",
                        "granted_at": now, "sensitive": False, "text_version": "v1",
                        "row_hash": "0" * 32, "batch_id": "bench",
                    }
                    for p in ids
                ],
            )  # fmt: skip
            conn.execute(
                insert(table_of(OnlineFeatures)),
                [
                    {
                        "person_id": p, "feature_set_version": "1", "as_of": now.date(),
                        "snapshot_id": "s", "values": {"degree": 3}, "updated_at": now,
                    }
                    for p in ids
                ],
            )  # fmt: skip
            conn.execute(
                insert(table_of(ExternalLoan)),
                [
                    {
                        "person_id": p, "lender": "bank", "opened_at": now, "amount_fen": 100_000,
                        "status": "open", "max_dpd": 0, "reported_at": now, "row_hash": p,
                        "batch_id": "bench",
                    }
                    for n, p in enumerate(ids) if n % 3 == 0
                ],
            )  # fmt: skip
            conn.execute(
                insert(table_of(EventOutbox)),
                [
                    {
                        "partition": n % 16, "event_id": f"e-{p}", "person_id": p,
                        "type": "tie", "occurred_at": "2026-11-30T00:00:00Z", "recorded_at": now,
                        "payload": {"type": "tie", "person_id": p,
                                    "other_person_id": _pid((start + n + 1) % people)},
                    }
                    for n, p in enumerate(ids)
                ],
            )  # fmt: skip
            conn.execute(
                insert(table_of(Alert)),
                [
                    {
                        "id": f"a-{p}", "type": "fraud_ring", "rule": "ring.dense",
                        "severity": "high", "person_id": p, "status": "open",
                        "dedup_key": f"ring:{p}", "occurred_at": now, "created_at": now,
                        "last_seen_at": now, "repeat_count": 0, "actions": [],
                        "evidence": {"members": [p, _pid((start + n + 7) % people)]},
                    }
                    for n, p in enumerate(ids) if n % 100 == 0
                ],
            )  # fmt: skip
        fieldcrypt._KEYS.clear()  # the benchmark's reads start cold


# --- (b) decryption -----------------------------------------------------------------------------


def _median_ms(action: Callable[[], object], samples: Iterable[Any]) -> float:
    times = []
    for sample in samples:
        started = time.perf_counter()
        action() if sample is None else sample()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_decrypt(engine: Engine, provider: KeyProvider, people: int, n: int) -> dict[str, float]:
    rng = random.Random(3)
    chosen = [_pid(rng.randrange(people)) for _ in range(n)]
    ids = table_of(PersonIdentity)
    with engine.connect() as conn:
        rows = {p: conn.execute(select(ids).where(ids.c.person_id == p)).one() for p in chosen}
        keys = fieldcrypt.load_keys(conn, provider, chosen)
        persons = table_of(Person)
        incomes = {
            p: conn.execute(
                select(persons.c.declared_monthly_income_enc).where(persons.c.person_id == p)
            ).scalar_one()
            for p in chosen
        }

        def decrypt(p: str) -> Callable[[], object]:
            def run() -> object:
                row, aead = rows[p], keys[p]
                return [
                    fieldcrypt.unseal(aead, p, f, getattr(row, f))
                    for f in fieldcrypt.IDENTITY_FIELDS
                ] + [fieldcrypt.unseal(aead, p, fieldcrypt.INCOME_FIELD, incomes[p])]

            return run

        def plain_select(p: str) -> Callable[[], object]:
            return lambda: conn.execute(select(ids).where(ids.c.person_id == p)).one()

        def whole(p: str) -> Callable[[], object]:
            return lambda: fieldcrypt.read_identity(conn, provider, p)

        return {
            "decrypt": _median_ms(lambda: None, [decrypt(p) for p in chosen]),
            "select": _median_ms(lambda: None, [plain_select(p) for p in chosen]),
            "read_identity": _median_ms(lambda: None, [whole(p) for p in chosen]),
        }


# --- (c) erasure --------------------------------------------------------------------------------


def plain_delete(engine: Engine, person_id: str) -> None:
    """The baseline: the same tables' rows deleted by person, and the tombstone; no key, no
    mentions in others' events, no hold, no checkpoint."""
    with engine.begin() as conn:
        for model in (
            OnlineFeatures, ExternalLoan, LoanOutcome, Consent, PersonIdentity, Person,
            *MONITORING_TABLES,
        ):  # fmt: skip
            table = table_of(model)
            conn.execute(delete(table).where(table.c.person_id == person_id))
        conn.execute(
            insert(table_of(Erasure)).values(
                person_id=person_id, erased_at=datetime.now(UTC).replace(tzinfo=None)
            )
        )


def bench_erase(engine: Engine, people: int, n: int) -> tuple[float, float, float]:
    rng = random.Random(5)
    chosen = rng.sample(range(people), 2 * n)
    erased = [_pid(i) for i in chosen[:n]]
    baseline = [_pid(i) for i in chosen[n:]]
    erase_ms = _median_ms(lambda: None, [(lambda p=p: erase(engine, p)) for p in erased])
    plain_ms = _median_ms(lambda: None, [(lambda p=p: plain_delete(engine, p)) for p in baseline])
    with engine.connect() as conn:
        left = conn.execute(
            select(PersonKey.person_id).where(PersonKey.person_id.in_(erased))
        ).all()
    assert not left, "an erased person's key is still stored"
    worst = max(
        _median_ms(lambda: None, [lambda p=p: erase(engine, p)])
        for p in (_pid(i) for i in rng.sample(range(people), 3))
    )
    return erase_ms, plain_ms, worst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1_000_000, help="people in (b) and (c)")
    parser.add_argument("--ingest-people", type=int, default=100_000, help="people in (a)")
    parser.add_argument("--ingest-runs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/creditgraph-bench-privacy"))
    parser.add_argument(
        "--parts", default="abc", help="which parts to run, e.g. 'a' for the ingest alone"
    )
    args = parser.parse_args()
    parts = set(args.parts.lower())
    if not parts or parts - set("abc"):
        parser.error(f"--parts: letters among a, b, c, not {args.parts!r}")
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if "a" in parts:
        bench_overhead(work, args.ingest_people, args.ingest_runs)
    if parts & set("bc"):
        bench_database(work, args.people, args.samples, parts)


def bench_overhead(work: Path, people: int, runs: int) -> None:
    enc, plain = bench_ingest(work, people, runs)
    overhead = enc / plain - 1
    print(f"(a) ingest of {people:,} persons (best of {runs})")
    print(f"    encrypted {enc:8.2f} s   baseline (encryption off) {plain:8.2f} s")
    print(
        f"    overhead {overhead:+.1%} of ingest time (target < {TARGET_OVERHEAD:.0%}): "
        f"{'met' if overhead < TARGET_OVERHEAD else 'MISSED'}"
    )


def bench_database(work: Path, people: int, samples: int, parts: set[str]) -> None:
    settings = Settings(home=work / "big")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    provider = open_master_key(engine, master_key_file(settings))
    started = time.perf_counter()
    build_database(engine, provider, people)
    print(f"\nbuilt a {people:,}-person database in {time.perf_counter() - started:.0f} s")

    if "b" in parts:
        timing = bench_decrypt(engine, provider, people, samples * 10)
        print("(b) one person's fields, median")
        print(
            f"    decrypt six fields {timing['decrypt']:.4f} ms   baseline plain SELECT of the "
            f"row {timing['select']:.4f} ms   ratio {timing['decrypt'] / timing['select']:.2f}x"
        )
        print(
            f"    read_identity (SELECT, key, decrypt) {timing['read_identity']:.4f} ms; "
            f"decrypt target < {TARGET_DECRYPT_MS} ms: "
            f"{'met' if timing['decrypt'] < TARGET_DECRYPT_MS else 'MISSED'}"
        )

    if "c" in parts:
        erase_ms, plain_ms, worst = bench_erase(engine, people, samples)
        print(f"(c) erasure of one person on {people:,} people, median of {samples}")
        print(
            f"    erase {erase_ms:.1f} ms   baseline plain delete of the same rows "
            f"{plain_ms:.1f} ms   ratio {erase_ms / plain_ms:.2f}x   "
            f"(slowest of 3 more: {worst:.1f} ms)"
        )
        print(
            f"    target < {TARGET_ERASE_MS:.0f} ms: "
            f"{'met' if erase_ms < TARGET_ERASE_MS else 'MISSED'}"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
