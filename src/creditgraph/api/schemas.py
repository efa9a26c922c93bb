"""Request bodies. Amounts are decimal strings: JSON numbers are floats in most clients."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from creditgraph.api.errors import ApiError


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


def request_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the endpoint parses itself (so auth is checked before the body)."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


def parse(model: type[BaseModel], payload: Any) -> Any:
    """Validate ``payload``; the first problem becomes a 422 naming the field, not the value."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        first = errors[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = first["msg"]
        if first["type"] == "string_pattern_mismatch" and field == "amount":
            message = 'amount must be a decimal string with at most two decimals, e.g. "20000.00"'
        elif first["type"] == "string_type" and field == "amount":
            message = 'amount must be a string, e.g. "20000.00", not a JSON number'
        elif first["type"] == "extra_forbidden":
            message = "unknown field"
        elif first["type"] == "model_type":
            raise ApiError(400, "malformed_json", "the body must be a JSON object") from None
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise ApiError(422, "validation_error", message, field) from None
