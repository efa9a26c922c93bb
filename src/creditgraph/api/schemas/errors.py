"""The one error shape, and which failures each route documents in OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Responses = dict[int | str, dict[str, Any]]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. validation_error.")
    message: str = Field(description="What to fix; never repeats a submitted identifier.")
    field: str | None = Field(description="The field, header or parameter at fault, if one.")


class ErrorOut(BaseModel):
    """The one error shape of every failure."""

    error: ErrorDetail


def error(description: str, **extra: Any) -> dict[str, Any]:
    """One documented failure: its description and the error shape."""
    return {"description": description, "model": ErrorOut, **extra}


ERRORS: Responses = {
    400: error("Malformed or too deeply nested JSON, or a bad Idempotency-Key"),
    401: error("Missing, invalid or revoked API key"),
    403: error("The key's role may not call this endpoint"),
    408: error("The request body did not arrive in time"),
    409: error("Idempotency-Key reused with a different request"),
    413: error("The request body is larger than the configured maximum"),
    422: error("Validation error: the field is named in error.field"),
    429: error(
        "Locked out after repeated failed authentications; see Retry-After",
        headers={"Retry-After": {"schema": {"type": "integer"}}},
    ),
}
# Every authenticated endpoint can answer these, body or not.
AUTH = (401, 403, 408, 413, 429)
UNAVAILABLE: Responses = {503: error("No decision model is promoted yet, or the service is down")}


def only(*codes: int) -> Responses:
    """The documented failures among ``codes``."""
    return {k: v for k, v in ERRORS.items() if k in codes}


def not_found(what: str) -> Responses:
    """A 404 for ``what`` that does not exist or that the key may not see."""
    return {404: error(f"No such {what} (or not visible to this key)")}
