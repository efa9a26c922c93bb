"""Subject requests as the API shows them: the request log, an export, the bodies that file them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from creditgraph.api.schemas.common import Body, Timestamp


class SubjectRequestOut(BaseModel):
    """A person's request about their data: what, when it is due, and what became of it."""

    id: str
    person_id: str = Field(description="The person's pseudonym.")
    kind: str = Field(description="export, correct, erase or object.")
    status: str = Field(description="received, in_progress, done or rejected.")
    requested_by: str = Field(description="Who filed it: key:<id> for an API key.")
    received_at: Timestamp
    due_at: Timestamp = Field(description="When the answer is due (15 days by default).")
    completed_at: Timestamp | None
    overdue: bool = Field(description="Still open after its due time.")
    detail: dict[str, Any] | None = Field(
        description="What was asked, by field names and ids only (never personal values)."
    )
    result: dict[str, Any] | None = Field(
        description="The answer: counts per export section, fields changed, rows erased, the "
        "review opened, or the reason for a refusal."
    )


class SubjectRequestListOut(BaseModel):
    items: list[SubjectRequestOut] = Field(description="Earliest due first.")


class IdentityOut(BaseModel):
    """The person's personal fields, decrypted for this export."""

    external_id: str = Field(description="The lender's own id of the person.")
    name: str | None
    phone: str | None
    id_number: str | None
    note: str | None
    declared_monthly_income: str | None = Field(description="CNY as an exact decimal string.")


class AccessOut(BaseModel):
    """One recorded read of the person's personal data."""

    at: Timestamp
    actor: str = Field(description="user:<name>, key:<id> or a job's name.")
    actor_kind: str = Field(description="user, key or job.")
    purpose: str
    data_classes: list[str]
    action: str = Field(description="read, export, correct, erase or object.")
    bulk: bool = Field(description="A job's read of every person's data at once.")


class SubjectExportOut(BaseModel):
    """Everything held about the person (PIPL Art. 45), sections in a fixed order."""

    format: str = Field(description="creditgraph-subject-export/1")
    request_id: str
    generated_at: Timestamp
    person_id: str = Field(description="The person's pseudonym.")
    identity: IdentityOut
    person: dict[str, Any] = Field(description="Profile: segment, region, birth year, ...")
    consents: list[dict[str, Any]] = Field(description="With text version and text hash.")
    features: dict[str, Any] | None = Field(description="The latest features (online table).")
    scores: list[dict[str, Any]]
    decisions: list[dict[str, Any]] = Field(description="With reasons in Chinese and English.")
    loans: list[dict[str, Any]] = Field(description="With instalments and transactions.")
    external_loans: list[dict[str, Any]]
    social_data: list[dict[str, Any]] = Field(
        description="The lake's social rows about the person, counted per table, source and role "
        "(own, or mentioned in another's rows), with the time they span."
    )
    alerts: list[dict[str, Any]] = Field(description="Other people appear as 'another person'.")
    limit_controls: list[dict[str, Any]]
    legal_holds: list[dict[str, Any]]
    subject_requests: list[dict[str, Any]]
    access_log: list[AccessOut] = Field(description="Who read the data, when and why.")


class CorrectionIn(Body):
    """The corrected values; an empty string clears an optional field."""

    fields: dict[str, str] = Field(
        min_length=1,
        max_length=5,
        description="name, phone, id_number, note, declared_monthly_income (CNY, decimal text).",
    )


class ObjectionIn(Body):
    decision_id: str = Field(min_length=1, max_length=40, description="The decision objected to.")
    note: str | None = Field(default=None, max_length=1000, description="What the person says.")


class ErasureIn(Body):
    reference: str | None = Field(
        default=None, min_length=1, max_length=100, description="The request's own reference."
    )
