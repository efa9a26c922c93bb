"""Request bodies. Amounts are decimal strings: JSON numbers are floats in most clients."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import dumps


class ApplicationIn(BaseModel):
    """A loan application for a person already known to the platform."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_id: str = Field(min_length=1, max_length=200, description="The person's id.")
    product_code: str = Field(min_length=1, max_length=50, description="A catalogue product.")
    amount: str = Field(
        pattern=r"^\d{1,12}(\.\d{1,2})?$",
        description='Amount in CNY as a decimal string, at most two decimals, e.g. "20000.00".',
        examples=["20000.00"],
    )
    term: int = Field(ge=1, le=600, description="Term in months.")
    purpose: str = Field(min_length=1, max_length=50, description="The loan's purpose.")
    schedule_type: str | None = Field(
        default=None,
        max_length=30,
        description="Repayment schedule; the product's default if absent.",
    )

    @property
    def amount_decimal(self) -> Decimal:
        return Decimal(self.amount)


class ReviewRequestIn(BaseModel):
    """A borrower's request that a person review an automated decision (PIPL Art. 24)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str | None = Field(default=None, max_length=2000, description="Why a review is asked.")


class ReviewResolutionIn(BaseModel):
    """An officer's verdict after a human review: approve or decline, always with a note."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    approve: bool = Field(description="true approves the application, false declines it.")
    note: str = Field(min_length=1, max_length=2000, description="The reviewer's reasoning.")


AMOUNT_PATTERN = r"^\d{1,12}(\.\d{1,2})?$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoanAcceptIn(_Body):
    """The borrower accepts one offer of an approved decision."""

    decision_id: str = Field(min_length=1, max_length=40, description="An approved decision.")
    offer_index: int = Field(default=0, ge=0, le=20, description="Which of its offers (0 first).")


class DisbursementIn(_Body):
    """The lender pays the loan out; the schedule starts on this business date."""

    business_date: date = Field(description="ISO date, e.g. 2026-07-01.")


class RepaymentIn(_Body):
    """Money received from the borrower on a business date."""

    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        description='Amount in CNY as a decimal string, at most two decimals, e.g. "1200.50".',
        examples=["1200.50"],
    )
    business_date: date = Field(description="The day the money arrived, ISO date.")


class PrepaymentIn(_Body):
    """Principal repaid early: an amount of principal, or all of it."""

    business_date: date = Field(description="ISO date of the prepayment.")
    amount: str | None = Field(
        default=None,
        pattern=AMOUNT_PATTERN,
        description="Principal to prepay in CNY (decimal string); leave out with full=true.",
    )
    full: bool = Field(default=False, description="Prepay all the principal and close the loan.")
    mode: Literal["shorter_term", "lower_instalment"] = Field(
        default="shorter_term",
        description="After a partial prepayment: keep the instalment and finish earlier "
        "(shorter_term), or keep the maturity and pay less (lower_instalment).",
    )

    @model_validator(mode="after")
    def _one_of(self) -> PrepaymentIn:
        if (self.amount is None) == (not self.full):
            raise ValueError("give either an amount of principal or full=true, not both")
        return self


class ReversalIn(_Body):
    """Why a posting is reversed (e.g. a payment the bank returned)."""

    business_date: date | None = Field(default=None, description="Defaults to the original's.")
    note: str | None = Field(default=None, max_length=2000)


def request_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the endpoint parses itself (so auth is checked before the body)."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


class ReviewStatus(StrEnum):
    """Where a review request stands; ``resolved`` is approved or declined."""

    OPEN = "open"
    TAKEN = "taken"
    RESOLVED = "resolved"
    APPROVED = "approved"
    DECLINED = "declined"


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. validation_error.")
    message: str = Field(description="What to fix; never repeats a submitted identifier.")
    field: str | None = Field(description="The field, header or parameter at fault, if one.")


class ErrorOut(BaseModel):
    """The one error shape of every failure."""

    error: ErrorDetail


def parse(model: type[BaseModel], payload: Any) -> Any:
    """Validate ``payload`` strictly as the JSON it came as: no string becomes a number, no
    number a string, no true a 1 (what the schema says is what is accepted). The first problem
    becomes a 422 naming the field, not the value."""
    try:
        return model.model_validate_json(dumps(payload), strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        first = errors[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = first["msg"]
        if first["type"] == "string_pattern_mismatch" and field == "amount":
            message = (
                "amount must be a positive decimal string with at most two decimals, "
                'e.g. "20000.00"'
            )
        elif first["type"] == "string_type" and field == "amount":
            message = 'amount must be a string, e.g. "20000.00", not a JSON number'
        elif first["type"] == "extra_forbidden":
            message = "unknown field"
        elif first["type"] == "model_type":
            raise ApiError(400, "malformed_json", "the body must be a JSON object") from None
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise ApiError(422, "validation_error", message, field) from None
