"""The feature store: offline Parquet snapshots per as-of date, and the online latest-value table.

A snapshot is named by feature-set version, as-of date and a hash of the ingested batches it
was built from, so a trained model can say exactly which data it learned from.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, delete, insert, select

from creditgraph.features.build import FEATURE_SET_VERSION, FeatureBuild
from creditgraph.store.models import (
    FeatureSnapshot,
    IngestBatch,
    OnlineFeatures,
    table_of,
)

ONLINE_BATCH = 20_000


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    path: Path
    rows: int
    data_sha256: str


def data_hash(engine: Engine, as_of: date) -> str:
    """SHA-256 over the content hashes of every completed ingest batch, in order."""
    digest = hashlib.sha256(f"fs{FEATURE_SET_VERSION}:{as_of.isoformat()}\n".encode())
    with engine.connect() as conn:
        rows = conn.execute(
            select(IngestBatch.id, IngestBatch.content_sha256)
            .where(IngestBatch.status == "done")
            .order_by(IngestBatch.started_at, IngestBatch.id)
        )
        for batch_id, sha in rows:
            digest.update(f"{batch_id}:{sha}\n".encode())
    return digest.hexdigest()


def snapshot_dir(home: Path, as_of: date) -> Path:
    return home / "features" / f"v{FEATURE_SET_VERSION}" / f"as_of={as_of.isoformat()}"


def write_snapshot(
    home: Path, engine: Engine, build: FeatureBuild, engine_name: str
) -> SnapshotInfo:
    sha = data_hash(engine, build.as_of)
    snapshot_id = f"fs{FEATURE_SET_VERSION}-{build.as_of.isoformat()}-{sha[:12]}"
    folder = snapshot_dir(home, build.as_of)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{snapshot_id}.parquet"
    staging = path.with_name(path.name + ".part")
    pq.write_table(build.features, staging, compression="zstd")
    staging.replace(path)
    manifest = {
        "snapshot_id": snapshot_id,
        "feature_set_version": FEATURE_SET_VERSION,
        "as_of": build.as_of.isoformat(),
        "engine": engine_name,
        "rows": build.features.num_rows,
        "columns": build.features.column_names,
        "data_sha256": sha,
        "timings_s": {k: round(v, 3) for k, v in build.timings.items()},
    }
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    now = datetime.now(UTC).replace(tzinfo=None)
    table = table_of(FeatureSnapshot)
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.id == snapshot_id))
        conn.execute(
            insert(table).values(
                id=snapshot_id,
                feature_set_version=FEATURE_SET_VERSION,
                as_of=build.as_of,
                engine=engine_name,
                path=str(path),
                rows=build.features.num_rows,
                data_sha256=sha,
                created_at=now,
            )
        )
    return SnapshotInfo(snapshot_id, path, build.features.num_rows, sha)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value


def update_online(engine: Engine, features: pa.Table, snapshot_id: str, as_of: date) -> int:
    """Replace each person's online row unless a newer as-of date is already there."""
    table = table_of(OnlineFeatures)
    now = datetime.now(UTC).replace(tzinfo=None)
    names = [c for c in features.column_names if c not in ("person_id", "as_of")]
    written = 0
    with engine.begin() as conn:
        newer = set(conn.execute(select(table.c.person_id).where(table.c.as_of > as_of)).scalars())
        conn.execute(delete(table).where(table.c.as_of <= as_of))
        for batch in features.to_batches(ONLINE_BATCH):
            columns = batch.to_pydict()
            rows = []
            for i, person in enumerate(columns["person_id"]):
                if person in newer:
                    continue
                values = {name: _jsonable(columns[name][i]) for name in names}
                rows.append(
                    {
                        "person_id": person,
                        "feature_set_version": FEATURE_SET_VERSION,
                        "as_of": as_of,
                        "snapshot_id": snapshot_id,
                        "values": values,
                        "updated_at": now,
                    }
                )
            if rows:
                conn.execute(insert(table), rows)
                written += len(rows)
    return written


def resolve_person(engine: Engine, person: str, pseudonym_of: Any) -> str:
    """A pseudonym from either a pseudonym or the lender's own id.

    The lender's id is stored only encrypted, so it is found by its keyed pseudonym (the
    person's key), never by comparing text.
    """
    with engine.connect() as conn:
        if conn.execute(
            select(OnlineFeatures.person_id).where(OnlineFeatures.person_id == person)
        ).first():
            return person
    return str(pseudonym_of(person))


def get_online(engine: Engine, person_id: str) -> dict[str, Any] | None:
    """One person's latest features, or None: a primary-key read."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                OnlineFeatures.as_of,
                OnlineFeatures.feature_set_version,
                OnlineFeatures.snapshot_id,
                OnlineFeatures.values,
            ).where(OnlineFeatures.person_id == person_id)
        ).first()
    if row is None:
        return None
    return {
        "person_id": person_id,
        "as_of": row.as_of.isoformat(),
        "feature_set_version": row.feature_set_version,
        "snapshot_id": row.snapshot_id,
        "features": row.values,
    }
