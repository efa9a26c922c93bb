"""Database tables. All times are stored as naive UTC; all money as integer fen.

Personal data lives only in ``person_identities`` and ``persons.declared_monthly_income_enc``,
encrypted under a key per person (``person_keys``, wrapped by the master key): erasure deletes
the key, and every other table can be shared with analysts under a pseudonym.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PSEUDONYM = String(40)


class Base(DeclarativeBase):
    pass


class IngestBatch(Base):
    """One ``creditgraph ingest`` call: what came in, its content hash and what became of it."""

    __tablename__ = "ingest_batches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime())
    status: Mapped[str] = mapped_column(String(20))
    content_sha256: Mapped[str] = mapped_column(String(64))
    contract_version: Mapped[str] = mapped_column(String(10))
    counts: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict)
    # who runs it: a running batch whose process is gone was killed (ingest.recovery)
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    owner_started: Mapped[str | None] = mapped_column(String(40))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime())


class IngestFile(Base):
    __tablename__ = "ingest_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("ingest_batches.id"), index=True)
    table_name: Mapped[str] = mapped_column(String(40))
    path: Mapped[str] = mapped_column(String(1000))
    file_format: Mapped[str] = mapped_column(String(10))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows_read: Mapped[int] = mapped_column(BigInteger)
    accepted: Mapped[int] = mapped_column(BigInteger)
    updated: Mapped[int] = mapped_column(BigInteger)
    duplicates: Mapped[int] = mapped_column(BigInteger)
    quarantined: Mapped[int] = mapped_column(BigInteger)
    ignored_columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    part: Mapped[str | None] = mapped_column(String(200))  # its lake part and quarantine file


class Person(Base):
    __tablename__ = "persons"

    person_id: Mapped[str] = mapped_column(PSEUDONYM, primary_key=True)
    segment: Mapped[str] = mapped_column(String(30))
    region_tier: Mapped[str] = mapped_column(String(10))
    birth_year: Mapped[int] = mapped_column(Integer)
    gender: Mapped[str | None] = mapped_column(String(12))
    occupation: Mapped[str] = mapped_column(String(200))
    # AES-GCM under the person's data key (privacy.fieldcrypt): integer fen as text
    declared_monthly_income_enc: Mapped[bytes] = mapped_column(LargeBinary)
    registered_at: Mapped[datetime] = mapped_column(DateTime())
    phone_pseudonym: Mapped[str | None] = mapped_column(PSEUDONYM, index=True)
    # out-of-fold label fold, from the lender's own id (not the pseudonym): see features/labels
    fold: Mapped[int | None] = mapped_column(Integer)
    row_hash: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str] = mapped_column(ForeignKey("ingest_batches.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class PersonIdentity(Base):
    """The only link from pseudonym back to the person: external id and personal fields, each
    AES-GCM ciphertext under the person's data key (privacy.fieldcrypt). The lender's id is
    found by its pseudonym (the primary key), never by its text."""

    __tablename__ = "person_identities"

    person_id: Mapped[str] = mapped_column(
        ForeignKey("persons.person_id", ondelete="CASCADE"), primary_key=True
    )
    external_id: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number: Mapped[bytes | None] = mapped_column(LargeBinary)
    note: Mapped[bytes | None] = mapped_column(LargeBinary)


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (
        UniqueConstraint("person_id", "source", "purpose", "granted_at", name="uq_consent_key"),
        Index("ix_consent_lookup", "purpose", "person_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.person_id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(30))
    granted_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime())
    sensitive: Mapped[bool] = mapped_column(Boolean)
    text_version: Mapped[str] = mapped_column(String(50))
    # SHA-256 of the consent text (zh and en) the person agreed to: part of the receipt
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_via: Mapped[str | None] = mapped_column(String(20))  # ingest, api, cli
    row_hash: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("ingest_batches.id"))


class ExternalLoan(Base):
    """A status report of a loan on another platform; reports are appended, never overwritten."""

    __tablename__ = "external_loans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(
        ForeignKey("persons.person_id", ondelete="CASCADE"), index=True
    )
    lender: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(DateTime())
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    max_dpd: Mapped[int] = mapped_column(Integer)
    reported_at: Mapped[datetime] = mapped_column(DateTime())
    row_hash: Mapped[str] = mapped_column(String(32), unique=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("ingest_batches.id"))


class LoanOutcome(Base):
    __tablename__ = "loan_outcomes"

    loan_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    person_id: Mapped[str] = mapped_column(
        ForeignKey("persons.person_id", ondelete="CASCADE"), index=True
    )
    applied_at: Mapped[datetime] = mapped_column(DateTime())
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int] = mapped_column(Integer)
    defaulted: Mapped[bool] = mapped_column(Boolean)
    observed_at: Mapped[datetime] = mapped_column(DateTime())
    row_hash: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str] = mapped_column(ForeignKey("ingest_batches.id"))


class OnlineFeatures(Base):
    """The latest features of each person, for millisecond decisions."""

    __tablename__ = "online_features"

    person_id: Mapped[str] = mapped_column(PSEUDONYM, primary_key=True)
    feature_set_version: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[date] = mapped_column(Date)
    snapshot_id: Mapped[str] = mapped_column(String(80))
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class FeatureSnapshot(Base):
    """An offline snapshot: which data it was built from, so a model can name its training data."""

    __tablename__ = "feature_snapshots"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    feature_set_version: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[date] = mapped_column(Date, index=True)
    engine: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(String(1000))
    rows: Mapped[int] = mapped_column(BigInteger)
    data_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Erasure(Base):
    """A tombstone: this pseudonym was erased on request and must never be used again.

    The person's database rows are deleted; lake rows that mention the pseudonym are filtered out
    on every read until the lake is compacted.
    """

    __tablename__ = "erasures"

    person_id: Mapped[str] = mapped_column(PSEUDONYM, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime())
    request_ref: Mapped[str | None] = mapped_column(String(100))


class ModelVersion(Base):
    """A trained model: its artifact, the data it learnt from, its metrics, and who deployed it.

    The artifact is plain JSON (a scorecard's bins and points, or a challenger's trees and
    calibrator), so a version can be scored, audited or reproduced without the training code.
    """

    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    family: Mapped[str] = mapped_column(String(20))
    variant: Mapped[str] = mapped_column(String(20), index=True, server_default="social")
    as_of: Mapped[date] = mapped_column(Date)
    feature_set_version: Mapped[str] = mapped_column(String(20))
    training_data_sha256: Mapped[str] = mapped_column(String(64))
    artifact: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    promoted_by: Mapped[str | None] = mapped_column(String(100))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime())
    report_path: Mapped[str | None] = mapped_column(String(1000))


class ModelEvent(Base):
    """The audit trail of the registry: every registration, promotion and retirement."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime())
    note: Mapped[str | None] = mapped_column(String(500))


class Score(Base):
    """One person's score as of a date by one model version (batch scoring writes these)."""

    __tablename__ = "scores"

    person_id: Mapped[str] = mapped_column(PSEUDONYM, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    pd: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(4))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    scored_at: Mapped[datetime] = mapped_column(DateTime())


class DecisionRecord(Base):
    """One automated credit decision, as made: immutable once written (a trigger refuses updates).

    Everything needed to explain or reproduce it is here: the application, the context decided on,
    the inputs hash, the model, policy, catalogue and configuration versions and hashes, the rules
    that fired, the reasons, the limit and the offers. Money is integer fen; offer JSON holds
    amounts as decimal strings.
    """

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    as_of: Mapped[date] = mapped_column(Date)
    person_id: Mapped[str] = mapped_column(PSEUDONYM, index=True)
    applicant_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    product_code: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(30))
    schedule_type: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(10), index=True)
    limit_fen: Mapped[int] = mapped_column(BigInteger)
    pd: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(String(4))
    model_id: Mapped[str | None] = mapped_column(String(80))
    policy_version: Mapped[str] = mapped_column(String(40))
    policy_hash: Mapped[str] = mapped_column(String(64))
    catalogue_version: Mapped[str] = mapped_column(String(40))
    catalogue_hash: Mapped[str] = mapped_column(String(64))
    config_version: Mapped[str] = mapped_column(String(40))
    config_hash: Mapped[str] = mapped_column(String(64))
    inputs_hash: Mapped[str] = mapped_column(String(64))
    feature_snapshot_id: Mapped[str | None] = mapped_column(String(80))
    features_as_of: Mapped[date | None] = mapped_column(Date)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    fired_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    offers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    limit_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    social_data_used: Mapped[bool] = mapped_column(Boolean)


class ReviewRequest(Base):
    """A human review of a decision: a referral, or a borrower's request (PIPL Art. 24)."""

    __tablename__ = "review_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    taken_by: Mapped[str | None] = mapped_column(String(100))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime())
    resolution_note: Mapped[str | None] = mapped_column(String(1000))


class DecisionEvent(Base):
    """The audit trail of decisions: who decided, asked for, took or resolved a review, and when."""

    __tablename__ = "decision_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), index=True)
    review_id: Mapped[str | None] = mapped_column(ForeignKey("review_requests.id"))
    event: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime())
    note: Mapped[str | None] = mapped_column(String(1000))


def table_of(model: type[Base]) -> Table:
    """The Core table behind a model, typed for Core statements."""
    return cast(Table, model.__table__)


class ApiKey(Base):
    """An HTTP API key: only the argon2 hash of its secret is kept; the prefix finds the row."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("prefix", name="uq_api_keys_prefix"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime())


class IdempotencyKey(Base):
    """A POST seen under an Idempotency-Key, per API key, so a retry replays the first answer.

    ``response_status`` is null while the first request is still being processed.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "idempotency_key", name="uq_idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_method: Mapped[str] = mapped_column(String(10))
    request_path: Mapped[str] = mapped_column(String(500))
    request_sha256: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Loan(Base):
    """A loan accepted from an approved decision's offer: its terms, state and servicing status.

    Rates are exact decimal strings (never floats). ``dpd``, ``bucket``, ``npa``,
    ``overdue_since`` and ``accrued_through`` are maintained by the end-of-day job; ``version``
    counts changes to the row so readers can tell whether a loan moved under them.
    """

    __tablename__ = "loans"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), unique=True)
    offer_index: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[str] = mapped_column(PSEUDONYM, index=True)
    applicant_ref: Mapped[str | None] = mapped_column(String(100))
    product_code: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(20), index=True)
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    upfront_fee_fen: Mapped[int] = mapped_column(BigInteger)
    fee_per_period_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    nominal_rate: Mapped[str] = mapped_column(String(32))
    penalty_rate: Mapped[str] = mapped_column(String(32))
    all_in_rate: Mapped[str | None] = mapped_column(String(32))
    prepayment_fee_rate: Mapped[str] = mapped_column(String(32))
    allocation_order: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(30))
    frequency: Mapped[str] = mapped_column(String(20))
    day_count: Mapped[str] = mapped_column(String(20))
    periods: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date | None] = mapped_column(Date)
    disbursed_on: Mapped[date | None] = mapped_column(Date)
    first_due: Mapped[date | None] = mapped_column(Date)
    maturity: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    written_off_on: Mapped[date | None] = mapped_column(Date)
    credit_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    schedule_version: Mapped[int] = mapped_column(Integer, server_default="0")
    dpd: Mapped[int] = mapped_column(Integer, server_default="0")
    bucket: Mapped[str] = mapped_column(String(4), server_default="M0")
    npa: Mapped[bool] = mapped_column(Boolean, server_default=false())
    overdue_since: Mapped[date | None] = mapped_column(Date)
    accrued_through: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class LoanInstalment(Base):
    """One instalment of a loan's schedule, what is due and what has been accrued and paid.

    A prepayment reschedules: the unpaid rows are marked ``superseded`` and replaced by rows of
    the next ``schedule_version``, so the history of every schedule stays readable.
    ``penalty_memo_fen`` is the part of ``penalty_accrued_fen`` accrued off balance while the
    loan was NPA (never booked to penalty_receivable); it is income only when paid.
    """

    __tablename__ = "loan_instalments"
    __table_args__ = (
        UniqueConstraint(
            "loan_id", "schedule_version", "number", name="uq_loan_instalments_version_number"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    principal_due_fen: Mapped[int] = mapped_column(BigInteger)
    interest_due_fen: Mapped[int] = mapped_column(BigInteger)
    fee_due_fen: Mapped[int] = mapped_column(BigInteger)
    principal_paid_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    interest_paid_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    fee_paid_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    interest_accrued_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    penalty_accrued_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    penalty_paid_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    penalty_memo_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    superseded: Mapped[bool] = mapped_column(Boolean, server_default=false())
    schedule_version: Mapped[int] = mapped_column(Integer, server_default="0")


class LoanTransaction(Base):
    """One posting to a loan; its journal lines balance. ``detail`` holds the allocation.

    ``idempotency_key`` is unique (null for end-of-day postings); ``request_sha256`` is the hash
    of the request body so a retry with a different body is refused.
    """

    __tablename__ = "loan_transactions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    business_date: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    reversal_of: Mapped[str | None] = mapped_column(String(40))
    reversed_by: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class JournalLine(Base):
    """One side of a double entry, in integer fen: exactly one of debit and credit is positive."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint(
            "(debit_fen > 0 AND credit_fen = 0) OR (debit_fen = 0 AND credit_fen > 0)",
            name="ck_journal_lines_one_side",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("loan_transactions.id"), index=True)
    loan_id: Mapped[str] = mapped_column(String(40), index=True)
    account: Mapped[str] = mapped_column(String(30))
    debit_fen: Mapped[int] = mapped_column(BigInteger)
    credit_fen: Mapped[int] = mapped_column(BigInteger)
    # the trial balance as of a day end sums the lines dated on or before it
    business_date: Mapped[date] = mapped_column(Date, index=True)


class LoanEvent(Base):
    """The audit trail of a loan's lifecycle: every state change, who made it and when."""

    __tablename__ = "loan_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    event: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime())
    note: Mapped[str | None] = mapped_column(String(500))
    transaction_id: Mapped[str | None] = mapped_column(String(40))


class EodRun(Base):
    """One end-of-day run per business date; a completed date is never processed twice."""

    __tablename__ = "eod_runs"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime())
    loans_processed: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(String(20))
    # SHA-256 of the trial balance of the journal as of this date, written when the day completes
    trial_balance_sha256: Mapped[str | None] = mapped_column(String(64))


class RepaymentIntent(Base):
    """A borrower's app saying it will pay; nothing is posted until a payment channel confirms.

    ``channel`` and ``channel_reference`` identify the money the channel received (unique, so one
    receipt confirms one intent); ``transaction_id`` is the repayment the confirmation posted.
    """

    __tablename__ = "repayment_intents"
    __table_args__ = (
        UniqueConstraint("channel", "channel_reference", name="uq_repayment_intents_reference"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    created_by_key_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    channel: Mapped[str | None] = mapped_column(String(100))
    channel_reference: Mapped[str | None] = mapped_column(String(200))
    confirmed_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime())
    transaction_id: Mapped[str | None] = mapped_column(String(40))


class LoanRefund(Base):
    """Borrower credit left when a loan closed: due (a liability) until an officer approves it.

    ``source_transaction_id`` is the posting that closed the loan; ``transaction_id`` the payout.
    """

    __tablename__ = "loan_refunds"
    __table_args__ = (UniqueConstraint("source_transaction_id", name="uq_loan_refunds_source"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    source_transaction_id: Mapped[str] = mapped_column(String(40))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime())
    paid_on: Mapped[date | None] = mapped_column(Date)
    transaction_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime())


class AuthEvent(Base):
    """A failed authentication or a lock-out it caused: never a secret, only a hashed address.

    ``client`` is a keyed hash of the caller's address; ``key_prefix`` is what the caller sent
    (null for a malformed token and for a lock-out of the whole address).
    """

    __tablename__ = "auth_events"
    __table_args__ = (Index("ix_auth_events_client_at", "client", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime())
    key_prefix: Mapped[str | None] = mapped_column(String(16))
    client: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(20))


# --- the event bus's embedded outbox (monitoring.outbox) --------------------------------------

# An offset is a 64-bit integer; SQLite's auto-increment needs its own INTEGER row id.
EVENT_OFFSET = BigInteger().with_variant(Integer(), "sqlite")


class EventOutbox(Base):
    """The append-only event log: each event once, at an offset that only grows.

    ``partition`` is fixed at publish from the person's pseudonym, so one person's events are read
    by one consumer in offset order; ``recorded_at`` is when the event was published (replay from a
    date starts at the first offset recorded on or after it). Rows are never updated or deleted.
    """

    __tablename__ = "event_outbox"
    __table_args__ = (
        Index("ix_event_outbox_partition_offset", "partition", "offset"),
        # the other person an event names (a tie, an interaction), so an erasure finds the events
        # that mention the person without a scan (privacy.erasure); SQLite's twin is made by
        # migration 0019 (SQLite does not reflect expression indexes)
        Index("ix_event_outbox_other_person", text("(payload ->> 'other_person_id')")).ddl_if(
            dialect="postgresql"
        ),
    )

    offset: Mapped[int] = mapped_column(EVENT_OFFSET, primary_key=True, autoincrement=True)
    partition: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[str | None] = mapped_column(PSEUDONYM, index=True)  # erasure's point read
    type: Mapped[str | None] = mapped_column(String(60))
    occurred_at: Mapped[str | None] = mapped_column(String(40))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class EventConsumerOffset(Base):
    """How far a consumer group has handled each partition of the outbox (inclusive).

    Written in the same transaction as the handler's effects, so a consumer that dies before its
    commit starts again from the last committed offset: at-least-once.
    """

    __tablename__ = "event_consumer_offsets"

    group: Mapped[str] = mapped_column(String(100), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class ProcessedEvent(Base):
    """An event a consumer group has applied: redelivery of the same ``event_id`` is skipped.

    Inserted in the transaction of the handler's effects, on either bus.
    """

    __tablename__ = "processed_events"

    group: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime())


class EventDeadLetter(Base):
    """A poison event a consumer group gave up on, with the reason; the stream went on."""

    __tablename__ = "event_dead_letters"
    __table_args__ = (Index("ix_event_dead_letters_group_at", "group", "dead_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = mapped_column(String(100))
    delivery_id: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[str | None] = mapped_column(PSEUDONYM, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(1000))
    dead_at: Mapped[datetime] = mapped_column(DateTime())


# --- alerts and the actions they take (monitoring.alerts, monitoring.actions) -----------------


class Alert(Base):
    """A detector's finding about one person, folded with its repeats, and what became of it.

    ``occurred_at`` is the triggering event's time (a replay gives the same alerts);
    ``repeat_count`` counts the findings with the same ``dedup_key`` suppressed into it. The
    lifecycle is open, acknowledged, resolved, each step with who and a note.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status_id", "status", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(30), index=True)
    rule: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10))
    person_id: Mapped[str] = mapped_column(PSEUDONYM, index=True)
    status: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str] = mapped_column(String(300), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime())
    created_at: Mapped[datetime] = mapped_column(DateTime())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime())
    repeat_count: Mapped[int] = mapped_column(Integer, server_default="0")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime())
    acknowledged_note: Mapped[str | None] = mapped_column(String(1000))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime())
    resolved_note: Mapped[str | None] = mapped_column(String(1000))


class AlertAction(Base):
    """The audit trail of alerts: every action a policy took, and every lifecycle step."""

    __tablename__ = "alert_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str | None] = mapped_column(String(40), index=True)
    person_id: Mapped[str | None] = mapped_column(PSEUDONYM, index=True)
    action: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str | None] = mapped_column(String(40))
    policy_hash: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime())


class CreditLimitControl(Base):
    """A limit frozen or lowered for a person by an alert's action, until an officer lifts it.

    Servicing refuses to accept an offer that breaks an active control; the decision service
    caps or declines new decisions. No money moves: a control only stops new credit.
    """

    __tablename__ = "credit_limit_controls"
    __table_args__ = (Index("ix_credit_limit_controls_person_lifted", "person_id", "lifted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(PSEUDONYM)
    kind: Mapped[str] = mapped_column(String(10))
    cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    alert_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(300))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime())
    lifted_by: Mapped[str | None] = mapped_column(String(100))
    lift_note: Mapped[str | None] = mapped_column(String(1000))


class CollectionsEntry(Base):
    """A person (and each of their active loans) put on the collections list by an alert."""

    __tablename__ = "collections_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(PSEUDONYM, index=True)
    loan_id: Mapped[str | None] = mapped_column(String(40))
    alert_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(DateTime())
    added_by: Mapped[str] = mapped_column(String(100))


class AuditTile(Base):
    """One C2SP tlog tile of the audit log's Merkle tree: ``width`` hashes of tree level
    ``8 * level``, concatenated. A partial tile's row is widened in place as the tree grows
    (its hashes never change), so it also serves every narrower partial tile as a prefix."""

    __tablename__ = "audit_tiles"
    __table_args__ = (CheckConstraint("width BETWEEN 1 AND 256", name="ck_audit_tiles_width"),)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    width: Mapped[int] = mapped_column(SmallInteger)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEntryBundle(Base):
    """One C2SP entry bundle of the audit log: ``width`` leaves, each a uint16 length and bytes."""

    __tablename__ = "audit_entry_bundles"
    __table_args__ = (
        CheckConstraint("width BETWEEN 1 AND 256", name="ck_audit_entry_bundles_width"),
    )

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    width: Mapped[int] = mapped_column(SmallInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AuditTree(Base):
    """The audit log's integrated size, one row; appenders lock it so they integrate in turn."""

    __tablename__ = "audit_tree"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)


class AuditPeaks(Base):
    """The roots of the complete subtrees the audit tree is made of at ``size``, largest first,
    one row per size an append ended at: a proof at such a size reads its right edge here
    instead of from the partial tiles."""

    __tablename__ = "audit_peaks"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class AuditRecord(Base):
    """One commitment the audit log holds to a record, and where it sits in the tree.

    Written in the record's own transaction (the outbox); ``leaf_index`` is set when the sequencer
    integrates it. ``commitment`` is HMAC-SHA256 under ``salt`` of the record's canonical fields:
    erasure destroys the salt (and the pseudonym here), leaving the leaf and the tree intact but
    no longer linkable to anyone. A record changed on purpose is committed again; the latest
    commitment of a (kind, record id) is the one its live record must match.
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_kind_record", "kind", "record_id", "id"),
        Index(
            "ix_audit_records_pending",
            "id",
            sqlite_where=text("leaf_index IS NULL"),
            postgresql_where=text("leaf_index IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(EVENT_OFFSET, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30))
    record_id: Mapped[str] = mapped_column(String(80))
    person_id: Mapped[str | None] = mapped_column(PSEUDONYM, index=True)
    salt: Mapped[bytes | None] = mapped_column(LargeBinary)
    commitment: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_index: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    sequenced_at: Mapped[datetime | None] = mapped_column(DateTime())
    erased_at: Mapped[datetime | None] = mapped_column(DateTime())


class AuditCheckpoint(Base):
    """A checkpoint the log signed: its note with every cosignature gathered, and whether it was
    published (its witness policy met). The latest published one is what the log serves."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(EVENT_OFFSET, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[bytes] = mapped_column(LargeBinary)
    published: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    detail: Mapped[str | None] = mapped_column(String(2000))


class AuditWitnessSize(Base):
    """The tree size each witness last cosigned for this log: the ``old`` of the next request."""

    __tablename__ = "audit_witness_sizes"

    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class PrivacyJob(Base):
    """A purge that a revocation or an erasure scheduled: a source's social rows, or a person's
    rows in the lake; done by ``lake compact`` and ``retention run``, with what they removed."""

    __tablename__ = "privacy_jobs"
    __table_args__ = (Index("ix_privacy_jobs_pending", "done_at", "due_at"),)

    id: Mapped[int] = mapped_column(EVENT_OFFSET, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30))
    person_id: Mapped[str | None] = mapped_column(PSEUDONYM)
    source: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(300))
    scheduled_at: Mapped[datetime] = mapped_column(DateTime())
    due_at: Mapped[datetime] = mapped_column(DateTime())
    done_at: Mapped[datetime | None] = mapped_column(DateTime())
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SubjectRequest(Base):
    """A person's request (PIPL Art. 44-47, 24): export, correct, erase or object, with a deadline.

    ``detail`` names fields, never their values, so the request log holds no personal data.
    """

    __tablename__ = "subject_requests"
    __table_args__ = (Index("ix_subject_requests_status_due", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(PSEUDONYM, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime())
    due_at: Mapped[datetime] = mapped_column(DateTime())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime())
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DataAccess(Base):
    """One read of personal data: who (a user, an API key, a job), when, for what purpose.

    ``person_id`` is null for a job that read every person's fields at once (a feature build).
    """

    __tablename__ = "data_access_log"
    __table_args__ = (Index("ix_data_access_log_person_at", "person_id", "at"),)

    id: Mapped[int] = mapped_column(EVENT_OFFSET, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime())
    actor: Mapped[str] = mapped_column(String(100))
    actor_kind: Mapped[str] = mapped_column(String(10))  # user, key, job
    person_id: Mapped[str | None] = mapped_column(PSEUDONYM)
    purpose: Mapped[str] = mapped_column(String(30))
    data_classes: Mapped[str] = mapped_column(String(200))  # comma-separated
    action: Mapped[str] = mapped_column(String(20))  # read, export, correct, erase


class LegalHold(Base):
    """What the law requires us to keep after an erasure (loan accounting records), and why."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(EVENT_OFFSET, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(PSEUDONYM, index=True)
    data_class: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(300))
    basis: Mapped[str] = mapped_column(String(100))
    held_until: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    released_at: Mapped[datetime | None] = mapped_column(DateTime())


class MasterKey(Base):
    """The master key that wraps the persons' data keys: its id and a check value (the key's
    AES-GCM of a constant), so a lost or wrong key file is refused at start, never replaced."""

    __tablename__ = "master_keys"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    check_value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime())


class PersonKey(Base):
    """A person's data key, wrapped by the master key with the pseudonym as associated data.
    Deleting the row is crypto-shredding: every ciphertext of the person in the database can no
    longer be read, and in a backup taken earlier neither once the master key has been rotated."""

    __tablename__ = "person_keys"
    # SQLite: the rows live in the primary key's B-tree, one write per new key instead of two
    __table_args__ = ({"sqlite_with_rowid": False},)

    person_id: Mapped[str] = mapped_column(PSEUDONYM, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime())


# --- the web workspace (creditgraph.web) -------------------------------------------------------


class WebUser(Base):
    """A person who works in the web workspace: an officer, analyst, auditor or admin.

    Only the argon2 hash of the password is kept. ``failed_logins`` counts the failures since the
    last success; reaching the policy's limit sets ``locked_until``. A disabled user keeps the row
    (the audit trail names them) but cannot log in.
    """

    __tablename__ = "web_users"
    __table_args__ = (UniqueConstraint("name", name="uq_web_users_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime())


class WebSession(Base):
    """A logged-in browser: the SHA-256 of the cookie's token (never the token), its CSRF token
    and language, and when it idles out or ends."""

    __tablename__ = "web_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime())


class WorkspaceAction(Base):
    """A privileged action in the workspace or on its users (a login, a review decided, an alert
    acknowledged, a profile revealed, a user created): committed to the audit log."""

    __tablename__ = "workspace_actions"
    __table_args__ = (
        Index("ix_workspace_actions_at", "at"),
        Index("ix_workspace_actions_actor_at", "actor", "at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime())
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
