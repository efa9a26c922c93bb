"""The model registry: every trained version, its data, its metrics, and who deployed it when.

A version is registered as a ``candidate``; ``promote`` makes it the ``champion`` (the one that
scores applicants) and retires the previous champion of its variant in the same transaction, so
there is never more than one per variant. The ``social`` variant scores applicants who consented
to credit assessment; the ``no_social`` variant, trained without any social feature, scores those
who did not. Every change writes a ``model_events`` row: the audit trail a regulator asks for;
and commits the version as it now stands to the audit log, in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from creditgraph.audit import outbox as audit_log
from creditgraph.store.models import ModelEvent, ModelVersion

CANDIDATE, CHAMPION, RETIRED = "candidate", "champion", "retired"
FAMILIES = ("scorecard", "challenger")
SOCIAL, NO_SOCIAL = "social", "no_social"
VARIANTS = (SOCIAL, NO_SOCIAL)


class RegistryError(ValueError):
    """A registry request that cannot be honoured (unknown id, no champion, ...)."""


@dataclass(frozen=True)
class ModelRecord:
    """A registered version, detached from the database session."""

    id: str
    family: str
    variant: str
    as_of: date
    feature_set_version: str
    training_data_sha256: str
    artifact: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    created_at: datetime
    created_by: str
    promoted_by: str | None
    promoted_at: datetime | None
    report_path: str | None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _record(row: ModelVersion) -> ModelRecord:
    return ModelRecord(
        id=row.id,
        family=row.family,
        variant=row.variant,
        as_of=row.as_of,
        feature_set_version=row.feature_set_version,
        training_data_sha256=row.training_data_sha256,
        artifact=row.artifact,
        metrics=row.metrics,
        status=row.status,
        created_at=row.created_at,
        created_by=row.created_by,
        promoted_by=row.promoted_by,
        promoted_at=row.promoted_at,
        report_path=row.report_path,
    )


def model_id(family: str, as_of: date, artifact: dict[str, Any], created_at: datetime) -> str:
    """Readable and unique: family, training cut-off, time of training, digest of both."""
    content = json.dumps(artifact, sort_keys=True) + created_at.isoformat()
    digest = hashlib.sha256(content.encode()).hexdigest()[:8]
    return f"{family}-{as_of:%Y%m%d}-{created_at:%Y%m%d%H%M%S}-{digest}"


def register(
    engine: Engine,
    *,
    family: str,
    as_of: date,
    feature_set_version: str,
    training_data_sha256: str,
    artifact: dict[str, Any],
    metrics: dict[str, Any],
    actor: str,
    report_path: str | None = None,
    variant: str = SOCIAL,
) -> ModelRecord:
    """Store a new candidate version and its ``registered`` event."""
    if family not in FAMILIES:
        raise RegistryError(f"unknown model family {family!r}; expected one of {FAMILIES}")
    _check_variant(variant)
    now = _now()
    name = family if variant == SOCIAL else f"{family}-{variant.replace('_', '')}"
    row = ModelVersion(
        id=model_id(name, as_of, artifact, now),
        family=family,
        variant=variant,
        as_of=as_of,
        feature_set_version=feature_set_version,
        training_data_sha256=training_data_sha256,
        artifact=artifact,
        metrics=metrics,
        status=CANDIDATE,
        created_at=now,
        created_by=actor,
        promoted_by=None,
        promoted_at=None,
        report_path=report_path,
    )
    with Session(engine) as session, session.begin():
        session.add(row)
        session.flush()
        session.add(ModelEvent(model_id=row.id, event="registered", actor=actor, at=now))
        audit_log.record(session.connection(), "model_version", row.id)
        record = _record(row)
    return record


def get(engine: Engine, version: str) -> ModelRecord:
    with Session(engine) as session:
        row = session.get(ModelVersion, version)
        if row is None:
            raise RegistryError(
                f"no model version {version!r}; `creditgraph model list` shows them"
            )
        return _record(row)


def list_models(engine: Engine) -> list[ModelRecord]:
    """Every version, newest first."""
    with Session(engine) as session:
        rows = session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc()))
        return [_record(row) for row in rows]


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise RegistryError(f"unknown model variant {variant!r}; expected one of {VARIANTS}")


def champion(engine: Engine, variant: str = SOCIAL) -> ModelRecord:
    """The version of ``variant`` that scores applicants now."""
    _check_variant(variant)
    with Session(engine) as session:
        row = session.scalars(
            select(ModelVersion).where(
                ModelVersion.status == CHAMPION, ModelVersion.variant == variant
            )
        ).first()
        if row is None:
            what = "" if variant == SOCIAL else f" of variant {variant}"
            raise RegistryError(
                f"no champion model{what}: train one (`creditgraph model train`) and promote it"
            )
        return _record(row)


def promote(engine: Engine, version: str, actor: str, note: str | None = None) -> ModelRecord:
    """Make ``version`` the champion; the previous champion is retired in the same transaction."""
    now = _now()
    with Session(engine) as session, session.begin():
        row = session.get(ModelVersion, version, with_for_update=True)
        if row is None:
            raise RegistryError(
                f"no model version {version!r}; `creditgraph model list` shows them"
            )
        if row.status == CHAMPION:
            return _record(row)
        previous = session.scalars(
            select(ModelVersion.id).where(
                ModelVersion.status == CHAMPION, ModelVersion.variant == row.variant
            )
        ).all()
        if previous:
            session.execute(
                update(ModelVersion).where(ModelVersion.id.in_(previous)).values(status=RETIRED)
            )
            for old in previous:
                session.add(
                    ModelEvent(
                        model_id=old, event="retired", actor=actor, at=now, note=f"by {version}"
                    )
                )
        row.status = CHAMPION
        row.promoted_by = actor
        row.promoted_at = now
        session.add(ModelEvent(model_id=version, event="promoted", actor=actor, at=now, note=note))
        session.flush()
        audit_log.record_many(session.connection(), "model_version", [*previous, version])
        return _record(row)


def set_report_path(engine: Engine, version: str, path: str) -> None:
    """Record where the version's validation report was written."""
    with Session(engine) as session, session.begin():
        row = session.get(ModelVersion, version)
        if row is None:
            raise RegistryError(f"no model version {version!r}")
        row.report_path = path


def events(engine: Engine, version: str | None = None) -> list[dict[str, Any]]:
    """The audit trail, oldest first (of one version, or of all)."""
    with Session(engine) as session:
        query = select(ModelEvent).order_by(ModelEvent.id)
        if version is not None:
            query = query.where(ModelEvent.model_id == version)
        return [
            {"model_id": e.model_id, "event": e.event, "actor": e.actor, "at": e.at, "note": e.note}
            for e in session.scalars(query)
        ]


def compare(a: ModelRecord, b: ModelRecord) -> list[tuple[str, Any, Any, float | None]]:
    """Metric by metric: (name, value in a, value in b, b − a where both are numbers)."""
    rows = []
    flat_a, flat_b = _flat(a.metrics), _flat(b.metrics)
    for name in sorted(set(flat_a) | set(flat_b)):
        left, right = flat_a.get(name), flat_b.get(name)
        diff = None
        if isinstance(left, int | float) and isinstance(right, int | float):
            diff = float(right) - float(left)
        rows.append((name, left, right, diff))
    return rows


def _flat(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif not isinstance(value, list):
            out[name] = value
    return out
