"""Purpose limitation in code (PIPL Art. 6, 14): what each reader of personal data is for.

Every feature family, monitoring detector and export declares one :class:`Declaration`: its
purpose, the classes of data it touches and the sources it reads. The declarations live next to
what they declare (``features.catalogue``, ``monitoring.purposes``, ...) and register here, so a
test can enumerate the families and detectors and fail on one that declares nothing.

Where data is read for a purpose about known people, :func:`require_consent` checks each person
holds a consent for that purpose valid at the instant (granted at or before it, neither expired
nor revoked by then: the same rule as the ingest gate and the monitoring intake) and raises
:class:`PurposeViolation`, naming the person and the purpose, when one does not. A reader that
touches a sensitive class (:class:`DataClass`) needs a separate consent to sensitive personal
information (PIPL Art. 29): :func:`require_declared` asks for one, and :func:`sensitive_sources`
names the sources a sensitive row may still be read from.

A revocation reaches every read at once through :func:`withdrawn_sources`: the (person, source)
pairs whose latest consent for a purpose was revoked. Their history from that source is no
longer read at all, not only what came after the revocation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, select

from creditgraph.contracts.schema import MONEY_INTERACTIONS, PURPOSES
from creditgraph.store.models import Consent, table_of

CREDIT_ASSESSMENT = "credit_assessment"
MONITORING = "monitoring"
SHARING = "sharing"
SUBJECT_REQUEST = "subject_request"
"""Not a consent purpose: the person's own request (access, export) is its legal basis."""
LEGAL_OBLIGATION = "legal_obligation"
"""Not a consent purpose: records the law requires (accounting, regulatory reports)."""
BASES = (*PURPOSES, SUBJECT_REQUEST, LEGAL_OBLIGATION)
_CHUNK = 500


class DataClass(StrEnum):
    """Classes of personal data a reader may touch; ``sensitive`` ones need a separate consent.

    Sensitive (PIPL Art. 28, read with GB/T 35273-2020 Appendix B.2), each for a stated reason:

    - ``TRANSFERS``: transfers and red packets are the payment records of a person's financial
      account on the platform (Art. 28 "金融账户"; B.2 "支付收款记录、交易和消费记录").
    - ``DEVICES``: device identifiers; the consent texts we show name them sensitive and ask for
      them separately (a shared device also places people together), so a person who did not
      give that separate consent was promised they are not read.
    - ``INCOME``: declared income is personal property information (B.2 "个人财产信息").

    Ties, interactions other than money, activity and the profile are personal information but
    not sensitive: an ordinary consent for the purpose covers them.
    """

    PROFILE = "profile"  # segment, region, birth year, registration
    INCOME = "income"  # declared income (sensitive: financial)
    TIES = "ties"  # declared social ties
    INTERACTIONS = "interactions"  # interaction counts
    TRANSFERS = "transfers"  # money moved between people (sensitive: financial)
    DEVICES = "devices"  # device identifiers (sensitive)
    ACTIVITY = "activity"  # daily activity
    EXTERNAL_LOANS = "external_loans"  # other lenders' loans reported to us
    OUTCOMES = "outcomes"  # repayment outcomes of past loans
    REPAYMENTS = "repayments"  # this platform's own servicing records
    DECISIONS = "decisions"  # decisions, scores and reasons

    @property
    def sensitive(self) -> bool:
        return self in SENSITIVE


SENSITIVE = frozenset({DataClass.INCOME, DataClass.TRANSFERS, DataClass.DEVICES})
SOCIAL = frozenset(
    {
        DataClass.TIES,
        DataClass.INTERACTIONS,
        DataClass.TRANSFERS,
        DataClass.DEVICES,
        DataClass.ACTIVITY,
    }
)
"""Data gathered from social platforms under a per-source consent."""
SENSITIVE_ROWS = {
    "interactions": f"r.kind IN ({', '.join(repr(k) for k in MONEY_INTERACTIONS)})",
    "devices": "TRUE",
}
"""The sensitive rows of the social lake tables (SQL over the row ``r``): money moved between
people (``TRANSFERS``) and device links (``DEVICES``). Only a separate consent admits them."""


class DeclarationError(ValueError):
    """A declaration that breaks the rules (unknown purpose, no data classes, declared twice)."""


class PurposeViolation(PermissionError):
    """Data was about to be read for a purpose a person has not (or no longer) consented to."""

    def __init__(
        self,
        person_id: str,
        purpose: str,
        source: str | None,
        missing: int,
        at: datetime,
        sensitive: bool = False,
    ) -> None:
        where = f" from source {source}" if source else ""
        more = f" (and {missing - 1} more)" if missing > 1 else ""
        kind = "separate (sensitive) " if sensitive else ""
        kind_zh = "单独的敏感个人信息" if sensitive else ""
        super().__init__(
            f"person {person_id}{more} has no {kind}{purpose} consent{where} valid at "
            f"{at.isoformat(timespec='seconds')}: their data may not be read for {purpose} / "
            f"此人（{person_id}）在该时点没有有效的{kind_zh}{_PURPOSE_ZH.get(purpose, purpose)}"
            "同意，不得为此目的读取其数据"
        )
        self.person_id = person_id
        self.purpose = purpose
        self.source = source
        self.missing = missing
        self.sensitive = sensitive


_PURPOSE_ZH = {CREDIT_ASSESSMENT: "信用评估", MONITORING: "贷后监测", SHARING: "信息共享"}


@dataclass(frozen=True)
class Declaration:
    """What one reader of personal data is for: its purpose, data classes and sources read."""

    name: str
    kind: str  # feature_family, detector, export, job
    purpose: str
    data_classes: frozenset[DataClass]
    reads: tuple[str, ...]
    """The tables or streams it reads (``lake:ties``, ``db:persons``, ``stream:social``)."""

    def __post_init__(self) -> None:
        if self.purpose not in BASES:
            raise DeclarationError(
                f"{self.kind} {self.name}: purpose must be one of {', '.join(BASES)}"
            )
        if not self.data_classes or not self.reads:
            raise DeclarationError(f"{self.kind} {self.name}: declare its data classes and reads")

    @property
    def needs_consent(self) -> bool:
        return self.purpose in PURPOSES

    @property
    def sensitive(self) -> bool:
        return any(c.sensitive for c in self.data_classes)

    @property
    def social(self) -> bool:
        return not SOCIAL.isdisjoint(self.data_classes)


_REGISTRY: dict[tuple[str, str], Declaration] = {}


def declare(
    kind: str, name: str, purpose: str, data_classes: Iterable[DataClass], reads: Sequence[str]
) -> Declaration:
    """Register what ``name`` (a ``kind`` of reader) is for; declaring it again differently fails."""
    declaration = Declaration(name, kind, purpose, frozenset(data_classes), tuple(reads))
    existing = _REGISTRY.get((kind, name))
    if existing is not None and existing != declaration:
        raise DeclarationError(f"{kind} {name}: declared twice, differently")
    _REGISTRY[(kind, name)] = declaration
    return declaration


def declarations(kind: str | None = None) -> list[Declaration]:
    """Every registered declaration (of ``kind``), by kind and name."""
    return sorted(
        (d for d in _REGISTRY.values() if kind is None or d.kind == kind),
        key=lambda d: (d.kind, d.name),
    )


def declaration(kind: str, name: str) -> Declaration | None:
    return _REGISTRY.get((kind, name))


# -- the rule ---------------------------------------------------------------------------------------


def valid_at(
    granted_at: datetime, expires_at: datetime | None, revoked_at: datetime | None, at: datetime
) -> bool:
    """Whether a consent covers the instant ``at``: granted at or before it, and neither expired
    nor revoked by then (the ingest gate's and the monitoring intake's rule)."""
    return (
        granted_at <= at
        and (expires_at is None or at < expires_at)
        and (revoked_at is None or at < revoked_at)
    )


def require_consent(
    conn: Connection,
    person_ids: Iterable[str],
    purpose: str,
    source: str | None,
    at: datetime,
    *,
    sensitive: bool = False,
) -> None:
    """Raise :class:`PurposeViolation` unless every person holds a ``purpose`` consent (from
    ``source``, or from any source when None) valid at ``at``; naive UTC times. With
    ``sensitive`` only a separate consent to sensitive personal information counts."""
    if purpose not in PURPOSES:
        raise DeclarationError(f"purpose must be one of {', '.join(PURPOSES)}")
    wanted = sorted(set(person_ids))
    covered = {p for p, _ in _valid_pairs(conn, wanted, purpose, source, at, sensitive)}
    missing = [p for p in wanted if p not in covered]
    if missing:
        raise PurposeViolation(missing[0], purpose, source, len(missing), at, sensitive)


def require_declared(
    conn: Connection,
    declared: Declaration,
    person_ids: Iterable[str],
    source: str | None,
    at: datetime,
) -> None:
    """:func:`require_consent` for a declared reader: its purpose, and a separate consent to
    sensitive personal information when it reads a sensitive class."""
    if declared.needs_consent:
        require_consent(
            conn, person_ids, declared.purpose, source, at, sensitive=declared.sensitive
        )


def sensitive_sources(
    conn: Connection, purpose: str, person_ids: Sequence[str], at: datetime
) -> list[tuple[str, str]]:
    """The (person, source) pairs holding a separate consent to sensitive personal information
    for ``purpose`` valid at ``at``, sorted: only from these may a sensitive row be read."""
    return sorted(_valid_pairs(conn, sorted(set(person_ids)), purpose, None, at, True))


def _valid_pairs(
    conn: Connection,
    people: Sequence[str],
    purpose: str,
    source: str | None,
    at: datetime,
    sensitive: bool,
) -> set[tuple[str, str]]:
    """(person, source) pairs of ``people`` with a ``purpose`` consent valid at ``at``."""
    found: set[tuple[str, str]] = set()
    c = table_of(Consent).c
    for start in range(0, len(people), _CHUNK):
        chunk = people[start : start + _CHUNK]
        query = select(c.person_id, c.source, c.granted_at, c.expires_at, c.revoked_at).where(
            c.purpose == purpose, c.person_id.in_(chunk), c.granted_at <= at
        )
        if source is not None:
            query = query.where(c.source == source)
        if sensitive:
            query = query.where(c.sensitive.is_(True))
        for row in conn.execute(query):
            if valid_at(row.granted_at, row.expires_at, row.revoked_at, at):
                found.add((row.person_id, row.source))
    return found


def withdrawn_sources(
    conn: Connection, purpose: str, person_ids: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """The (person, source) pairs whose consent for ``purpose`` was revoked and not given again
    since (no unrevoked consent granted after the last revocation), sorted.

    Two steps, because revocations are few: the revoked rows first (one filtered pass, no
    grouping of every consent), then only those people's consents, by the lookup index.
    """
    c = table_of(Consent).c
    revoked = select(c.person_id).where(c.purpose == purpose, c.revoked_at.is_not(None))
    if person_ids is None:
        people = sorted(set(conn.execute(revoked).scalars()))
    else:
        people = []
        ids = sorted(set(person_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            people.extend(conn.execute(revoked.where(c.person_id.in_(chunk))).scalars())
        people = sorted(set(people))
    last_revoked: dict[tuple[str, str], datetime] = {}
    last_open: dict[tuple[str, str], datetime] = {}
    for start in range(0, len(people), _CHUNK):
        rows = conn.execute(
            select(c.person_id, c.source, c.granted_at, c.revoked_at).where(
                c.purpose == purpose, c.person_id.in_(people[start : start + _CHUNK])
            )
        )
        for row in rows:
            pair = (row.person_id, row.source)
            if row.revoked_at is not None:
                if pair not in last_revoked or row.revoked_at > last_revoked[pair]:
                    last_revoked[pair] = row.revoked_at
            elif pair not in last_open or row.granted_at > last_open[pair]:
                last_open[pair] = row.granted_at
    return sorted(
        pair
        for pair, revoked_at in last_revoked.items()
        if pair not in last_open or last_open[pair] < revoked_at
    )


# -- exports -----------------------------------------------------------------------------------------
# The subject export (PIPL Art. 45) reads everything held about one person, on that person's own
# request: its basis is the request, not a consent. There is no bulk export of the lake.

SUBJECT_EXPORT = declare(
    "export",
    "subject_export",
    SUBJECT_REQUEST,
    tuple(DataClass),
    ("db:persons", "db:consents", "db:decisions", "db:loans", "db:data_access_log", "lake:*"),
)
