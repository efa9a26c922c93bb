"""The consent lifecycle (PIPL Art. 13-16, 29): grant, revoke and show, per person, source and
purpose, each step with a receipt.

A grant names the text version the person was shown; its SHA-256 (``privacy.consent_texts``) is
stored with the consent and, with the rest of the row, committed to the audit log in the same
transaction, so the receipt can later be proven against the log. A sensitive grant needs a text
that asks separately for sensitive personal information.

A revocation takes effect at once: every read drops the (person, source) from the same
transaction on (``privacy.purpose.withdrawn_sources``), and for a credit-assessment consent a
purge of that source's social rows is scheduled (``privacy.jobs``) in that transaction too.

Bad input stores nothing and raises a :class:`ConsentError` whose message, in English and
Chinese, names the field and the rule, never the submitted personal values.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from creditgraph.audit import outbox as audit_log
from creditgraph.canonical import canonical_json
from creditgraph.contracts.schema import PURPOSES
from creditgraph.privacy import jobs
from creditgraph.privacy.consent_texts import ConsentTexts, TextRefusal, consent_texts
from creditgraph.privacy.purpose import CREDIT_ASSESSMENT, valid_at
from creditgraph.store.db import write_transaction
from creditgraph.store.models import AuditRecord, Consent, Erasure, Person, table_of

VIA = ("ingest", "api", "cli")
SOURCE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
CLOCK_TOLERANCE = timedelta(minutes=5)
"""How far ahead of our clock a grant or revocation time may be (a client's clock runs fast)."""

CONSENTS = table_of(Consent)
_AUDIT = table_of(AuditRecord)


class ConsentError(ValueError):
    """A consent request that cannot be honoured; ``en`` and ``zh`` say why, ``field`` where."""

    def __init__(self, en: str, zh: str, field: str | None = None) -> None:
        super().__init__(f"{en} / {zh}")
        self.en = en
        self.zh = zh
        self.field = field


class UnknownPersonError(ConsentError):
    """No person of the book has this id (or they were erased: the answer does not say)."""


class ConsentNotFoundError(ConsentError, LookupError):
    """No consent by that id."""


class ConsentStateError(ConsentError):
    """The consent is not active, so it cannot be revoked (already revoked, or expired)."""


class ConsentConflictError(ConsentError):
    """Another consent of this person, source and purpose was granted at that instant (the
    same grant sent again is not a conflict: it gets its first receipt back)."""


@dataclass(frozen=True)
class Receipt:
    """What the person (and an auditor) gets for a consent step: enough to prove it later."""

    consent_id: int
    person_id: str
    """The person's pseudonym, never the lender's own id."""
    source: str
    purpose: str
    sensitive: bool
    text_version: str
    text_sha256: str | None
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    recorded_via: str | None
    status: str
    """active, revoked, expired or pending (granted for a later instant), as of the receipt."""
    audit_commitment: str | None
    """The hex commitment the audit log holds for this consent as it now stands."""
    purge_job_id: int | None = None
    """For a revocation: the purge of the source's social rows it scheduled."""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat(timespec="microseconds")
        return out


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(value: datetime) -> datetime:
    """Naive UTC, as every table stores times; an aware time is converted first."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


# -- grant -------------------------------------------------------------------------------------------


def grant(
    engine: Engine,
    person_id: str,
    source: str,
    purpose: str,
    *,
    text_version: str | None = None,
    sensitive: bool = False,
    at: datetime | None = None,
    expires_at: datetime | None = None,
    via: str = "api",
    texts: ConsentTexts | None = None,
) -> Receipt:
    """Record a consent given at ``at`` (now by default) under ``text_version`` (the text in
    force then by default); validated first, stored with its audit commitment in one
    transaction."""
    texts = texts or consent_texts()
    now = utcnow()
    granted_at = naive_utc(at) if at is not None else now
    expires = naive_utc(expires_at) if expires_at is not None else None
    _check_purpose(purpose)
    _check_source(source)
    _check_via(via)
    _not_future(granted_at, now, "granted_at")
    if expires is not None and expires <= granted_at:
        raise ConsentError(
            "expires_at must be after granted_at",
            "到期时间必须晚于同意时间",
            "expires_at",
        )
    text = texts.for_grant(text_version, purpose, sensitive, granted_at)
    if isinstance(text, TextRefusal):
        raise ConsentError(text.en, text.zh, text.field)
    with write_transaction(engine) as conn:
        _known_person(conn, person_id)
        key = (
            CONSENTS.c.person_id == person_id,
            CONSENTS.c.source == source,
            CONSENTS.c.purpose == purpose,
            CONSENTS.c.granted_at == granted_at,
        )
        same = conn.execute(select(CONSENTS).where(*key)).mappings().first()
        if same is not None:
            # a retry of the same grant gets the same receipt; anything else is a conflict
            if (same["text_version"], bool(same["sensitive"]), same["expires_at"]) == (
                text.version,
                sensitive,
                expires,
            ):
                return _receipt(conn, int(same["id"]), now)
            raise ConsentConflictError(
                "a different consent of this person, source and purpose was already granted at "
                "that instant",
                "该人员对同一来源和目的在该时点已有不同的同意记录",
                "granted_at",
            )
        values = {
            "person_id": person_id,
            "source": source,
            "purpose": purpose,
            "granted_at": granted_at,
            "expires_at": expires,
            "revoked_at": None,
            "sensitive": sensitive,
            "text_version": text.version,
            "text_sha256": text.sha256,
            "recorded_via": via,
            "batch_id": None,
        }
        values["row_hash"] = _row_hash(values)
        result = conn.execute(insert(CONSENTS).values(**values))
        assert result.inserted_primary_key is not None
        consent_id = int(result.inserted_primary_key[0])
        audit_log.record(conn, "consent", str(consent_id))
        return _receipt(conn, consent_id, now)


# -- revoke ------------------------------------------------------------------------------------------


def revoke(
    engine: Engine,
    consent_id: int,
    *,
    at: datetime | None = None,
    texts: ConsentTexts | None = None,
) -> Receipt:
    """Revoke one consent at ``at`` (now by default); it must be active then."""
    now = utcnow()
    revoked_at = naive_utc(at) if at is not None else now
    _not_future(revoked_at, now, "revoked_at")
    with write_transaction(engine) as conn:
        row = conn.execute(select(CONSENTS).where(CONSENTS.c.id == consent_id)).mappings().first()
        if row is None:
            raise ConsentNotFoundError("no consent with this id", "没有此编号的同意记录", "id")
        return _revoke_row(conn, row, revoked_at, now, texts or consent_texts())


def revoke_active(
    engine: Engine,
    person_id: str,
    source: str,
    purpose: str,
    *,
    at: datetime | None = None,
    texts: ConsentTexts | None = None,
) -> list[Receipt]:
    """Revoke every consent of the person for ``source`` and ``purpose`` active at ``at``."""
    _check_purpose(purpose)
    _check_source(source)
    now = utcnow()
    revoked_at = naive_utc(at) if at is not None else now
    _not_future(revoked_at, now, "revoked_at")
    with write_transaction(engine) as conn:
        _known_person(conn, person_id)
        rows = list(
            conn.execute(
                select(CONSENTS)
                .where(
                    CONSENTS.c.person_id == person_id,
                    CONSENTS.c.source == source,
                    CONSENTS.c.purpose == purpose,
                    CONSENTS.c.revoked_at.is_(None),
                )
                .order_by(CONSENTS.c.granted_at)
            ).mappings()
        )
        if rows and all(r["granted_at"] > revoked_at for r in rows):
            raise ConsentError(
                "revoked_at is earlier than the grant: a consent cannot be revoked before it "
                "was given",
                "撤回时间早于同意时间：不能在同意之前撤回",
                "revoked_at",
            )
        live = [r for r in rows if valid_at(r["granted_at"], r["expires_at"], None, revoked_at)]
        if not live:
            raise ConsentStateError(
                f"no active {purpose} consent of this person from source {source} at revoked_at "
                "(never given, already revoked, or expired)",
                f"该人员在撤回时点没有来自 {source} 的有效{purpose}同意（未曾同意、已撤回或已过期）",
                "purpose",
            )
        texts = texts or consent_texts()
        return [_revoke_row(conn, r, revoked_at, now, texts) for r in live]


def _revoke_row(
    conn: Connection, row: Any, revoked_at: datetime, now: datetime, texts: ConsentTexts
) -> Receipt:
    consent_id = int(row["id"])
    if row["revoked_at"] is not None:
        raise ConsentStateError("this consent is already revoked", "该同意已被撤回", "id")
    if revoked_at < row["granted_at"]:
        raise ConsentError(
            "revoked_at is earlier than the grant: a consent cannot be revoked before it was given",
            "撤回时间早于同意时间：不能在同意之前撤回",
            "revoked_at",
        )
    if row["expires_at"] is not None and row["expires_at"] <= revoked_at:
        raise ConsentStateError(
            "this consent had expired by revoked_at: only an active consent can be revoked",
            "该同意在撤回时点已过期：只能撤回有效的同意",
            "revoked_at",
        )
    # row_hash stays the hash of the row as it was given: a feed that sends that row again is
    # a duplicate, and cannot undo the revocation
    conn.execute(
        update(CONSENTS)
        .where(CONSENTS.c.id == consent_id, CONSENTS.c.revoked_at.is_(None))
        .values(revoked_at=revoked_at)
    )
    audit_log.record(conn, "consent", str(consent_id))
    job_id = None
    if row["purpose"] == CREDIT_ASSESSMENT and not _still_covered(conn, row, revoked_at):
        job_id = jobs.schedule(
            conn,
            jobs.PURGE_SOURCE,
            row["person_id"],
            f"credit_assessment consent {consent_id} revoked",
            source=row["source"],
            now=now,
            due_at=now + texts.purge_after,
        )
    return replace(_receipt(conn, consent_id, now), purge_job_id=job_id)


def _still_covered(conn: Connection, row: Any, at: datetime) -> bool:
    """Whether another unrevoked consent of the same person, source and purpose was given after
    this one (a renewal): then the source is not withdrawn and nothing is purged."""
    c = CONSENTS.c
    other = conn.execute(
        select(c.id).where(
            c.person_id == row["person_id"],
            c.source == row["source"],
            c.purpose == row["purpose"],
            c.revoked_at.is_(None),
            c.id != row["id"],
            c.granted_at > row["granted_at"],
        )
    ).first()
    return other is not None


# -- show --------------------------------------------------------------------------------------------


def show(
    engine: Engine,
    person_id: str,
    *,
    source: str | None = None,
    purpose: str | None = None,
) -> list[Receipt]:
    """The person's consents (for ``source`` and ``purpose`` when given), oldest grant first."""
    if purpose is not None:
        _check_purpose(purpose)
    if source is not None:
        _check_source(source)
    now = utcnow()
    with engine.connect() as conn:
        _known_person(conn, person_id)
        query = select(CONSENTS.c.id).where(CONSENTS.c.person_id == person_id)
        if source is not None:
            query = query.where(CONSENTS.c.source == source)
        if purpose is not None:
            query = query.where(CONSENTS.c.purpose == purpose)
        query = query.order_by(CONSENTS.c.granted_at, CONSENTS.c.id)
        ids = [int(i) for i in conn.execute(query).scalars()]
        return [_receipt(conn, i, now) for i in ids]


def status_of(row: Any, at: datetime) -> str:
    if row["revoked_at"] is not None and row["revoked_at"] <= at:
        return "revoked"
    if row["granted_at"] > at:
        return "pending"
    if row["expires_at"] is not None and row["expires_at"] <= at:
        return "expired"
    return "active"


def _receipt(conn: Connection, consent_id: int, now: datetime) -> Receipt:
    row = conn.execute(select(CONSENTS).where(CONSENTS.c.id == consent_id)).mappings().one()
    commitment = conn.execute(
        select(_AUDIT.c.commitment)
        .where(_AUDIT.c.kind == "consent", _AUDIT.c.record_id == str(consent_id))
        .order_by(_AUDIT.c.id.desc())
        .limit(1)
    ).scalar()
    return Receipt(
        consent_id=consent_id,
        person_id=row["person_id"],
        source=row["source"],
        purpose=row["purpose"],
        sensitive=bool(row["sensitive"]),
        text_version=row["text_version"],
        text_sha256=row["text_sha256"],
        granted_at=row["granted_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        recorded_via=row["recorded_via"],
        status=status_of(row, now),
        audit_commitment=None if commitment is None else bytes(commitment).hex(),
    )


# -- checks ------------------------------------------------------------------------------------------


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ConsentError(
            f"purpose: must be one of {', '.join(PURPOSES)}",
            f"purpose：必须是 {', '.join(PURPOSES)} 之一",
            "purpose",
        )


def _check_source(source: str) -> None:
    if not SOURCE_PATTERN.fullmatch(source or ""):
        raise ConsentError(
            "source: 1 to 100 characters, lower-case letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            "source：1 至 100 个字符，仅限小写字母、数字及 _ . -，须以字母或数字开头",
            "source",
        )


def _check_via(via: str) -> None:
    if via not in VIA:
        raise ConsentError(
            f"recorded_via: must be one of {', '.join(VIA)}",
            f"recorded_via：必须是 {', '.join(VIA)} 之一",
            "recorded_via",
        )


def _not_future(at: datetime, now: datetime, field: str) -> None:
    if at > now + CLOCK_TOLERANCE:
        raise ConsentError(
            f"{field} must not be in the future",
            f"{field} 不能晚于当前时间",
            field,
        )


def _known_person(conn: Connection, person_id: str) -> None:
    """Unknown and erased people get the same answer: it must not reveal an erasure."""
    persons = table_of(Person)
    erasures = table_of(Erasure)
    found = conn.execute(
        select(persons.c.person_id).where(persons.c.person_id == person_id)
    ).first()
    erased = conn.execute(
        select(erasures.c.person_id).where(erasures.c.person_id == person_id)
    ).first()
    if found is None or erased is not None:
        raise UnknownPersonError(
            "person_id: no person with this id is known",
            "person_id：没有此编号的人员",
            "person_id",
        )


def _row_hash(values: dict[str, Any]) -> str:
    """The row's content hash (32 hex), as ingest keeps one for every consent row."""
    plain = {k: v for k, v in values.items() if k not in ("id", "row_hash")}
    digest = hashlib.sha256(canonical_json(plain).encode()).hexdigest()
    return digest[:32]
