"""What every request model shares: strict parsing, decimal-string amounts, the body's OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import dumps

AMOUNT_PATTERN = r"^\d{1,12}(\.\d{1,2})?$"

Money = Annotated[
    str,
    Field(
        description="An amount in CNY as an exact decimal string (never a JSON number).",
        examples=["1066.19"],
    ),
]
Rate = Annotated[str, Field(description="A rate as an exact decimal string.", examples=["0.12"])]
Timestamp = Annotated[
    str,
    Field(description="ISO 8601 time, UTC, without an offset.", examples=["2026-07-01T09:00:00"]),
]


class Body(BaseModel):
    """A request body: unknown fields are refused, text is stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
