"""Consents as the API takes and shows them: a grant, a revocation, and the receipt of each."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from creditgraph.api.schemas.common import Body, Timestamp


class Purpose(StrEnum):
    CREDIT_ASSESSMENT = "credit_assessment"
    MONITORING = "monitoring"
    SHARING = "sharing"


class ConsentStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    PENDING = "pending"


class ConsentIn(Body):
    """A consent the person gave. Send ``granted_at`` (when they agreed): the same grant sent
    again then returns its first receipt instead of recording a second consent."""

    person_id: str = Field(
        min_length=1, max_length=200, description="The person's id in the lender's own records."
    )
    source: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$",
        description="The data source: a social platform or the lender's app.",
    )
    purpose: Purpose
    text_version: str | None = Field(
        default=None,
        max_length=50,
        description="The consent text shown to the person (default: the one in force).",
    )
    sensitive: bool = Field(
        default=False, description="Separate consent to sensitive personal information."
    )
    granted_at: Timestamp | None = Field(default=None, description="Default: now.")
    expires_at: Timestamp | None = None


class RevokeIn(Body):
    revoked_at: Timestamp | None = Field(default=None, description="Default: now.")


class ConsentOut(BaseModel):
    """A consent's receipt: enough for the person or an auditor to prove it later."""

    consent_id: int
    person_id: str = Field(description="The person's pseudonym (never the lender's own id).")
    source: str
    purpose: Purpose
    sensitive: bool
    text_version: str
    text_sha256: str | None = Field(
        description="SHA-256 of the canonical Chinese and English text the person was shown."
    )
    granted_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    recorded_via: str | None = Field(description="ingest, api or cli.")
    status: ConsentStatus
    audit_commitment: str | None = Field(
        description="The commitment the audit log holds for the consent as it now stands (hex)."
    )
    purge_job_id: int | None = Field(
        default=None,
        description="A revocation of credit assessment: the purge of the source's rows it "
        "scheduled.",
    )


class ConsentListOut(BaseModel):
    consents: list[ConsentOut]
