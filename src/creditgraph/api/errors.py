"""One error shape for every failure: ``{"error": {"code", "message", "field"}}``.

Messages say what to fix without echoing the submitted values (they may be personal data), and
an unexpected failure is a bare 500: no stack trace ever leaves the server.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditgraph.api import request_id
from creditgraph.api.jsonable import JsonResponse

log = logging.getLogger("creditgraph.api")


class ApiError(Exception):
    """An error the client can act on."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse(error.body(), status_code=error.status, headers=headers)


# Service errors by class name, so the API does not import (or break on) a service still in flux.
# Not-found messages are fixed: a service's own message may carry the id the client sent.
_BY_NAME: dict[str, tuple[int, str, str | None, str | None]] = {
    "UnknownPersonError": (422, "unknown_person", "person_id", "no person with this id is known"),
    "PersonNotFoundError": (422, "unknown_person", "person_id", "no person with this id is known"),
    "UnknownProductError": (422, "unknown_product", "product_code", None),
    "DecisionNotFoundError": (404, "not_found", None, "no such decision"),
    "ReviewRequestNotFoundError": (404, "not_found", None, "no such review request"),
    "NotFoundError": (404, "not_found", None, "no such resource"),
    "NoModelError": (503, "no_model", None, None),
    "LoanNotFoundError": (404, "not_found", None, "no such loan"),
    "LimitControlError": (409, "limit_controlled", None, None),
}
# Fields whose submitted value identifies a person: an error about them never repeats it.
_IDENTIFYING = frozenset({"person_id", "external_id", "phone", "name"})
_NOT_REPEATED = (
    "this value is not valid here (it is not repeated back, as it may identify a person)"
)


def from_service(exc: Exception) -> ApiError | None:
    """The client-facing error for a service exception, or None when it is a server fault."""
    error = _classify(exc)
    if error is not None and error.field in _IDENTIFYING and error.code != "unknown_person":
        error.message = _NOT_REPEATED
    return error


def _classify(exc: Exception) -> ApiError | None:
    for klass in type(exc).__mro__:
        known = _BY_NAME.get(klass.__name__)
        if known is not None:
            status, code, field, fixed = known
            message = fixed or str(exc)
            return ApiError(status, code, message, getattr(exc, "field", None) or field)
    if type(exc).__name__ == "DecisionInputError":
        field = getattr(exc, "field", None)
        message = str(exc)
        return ApiError(422, "invalid_application", message, field)
    if isinstance(exc, LookupError):
        return ApiError(404, "not_found", "no such resource", getattr(exc, "field", None))
    if type(exc).__name__.endswith(("ConflictError", "StateError")):
        return ApiError(409, "conflict", str(exc), getattr(exc, "field", None))
    if isinstance(exc, ValueError):
        return ApiError(422, "invalid_request", str(exc), getattr(exc, "field", None))
    return None


_PLACES = frozenset({"body", "query", "path", "header", "cookie"})


def _validation(exc: RequestValidationError) -> ApiError:
    errors = list(exc.errors())
    if not errors:
        return ApiError(422, "validation_error", "the request is not valid")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return ApiError(400, "malformed_json", "the request body is not valid JSON")
    where = first.get("loc", ())
    loc = [str(p) for p in where[1:]] if where and where[0] in _PLACES else [str(p) for p in where]
    field = ".".join(loc) or None
    if where and where[0] == "header" and field == "Idempotency-Key":
        return ApiError(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 200 printable ASCII characters, "
            "without a space at either end",
            field,
        )
    if first.get("type") == "missing" and field is None:
        return ApiError(400, "malformed_json", "the request needs a JSON object body")
    message = str(first.get("msg", "invalid value"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ApiError(422, "validation_error", message, field)


def install(app: FastAPI) -> None:
    """Register the handlers that give every failure the one error shape."""

    async def on_api_error(_: Request, exc: Exception) -> JsonResponse:
        assert isinstance(exc, ApiError)
        headers = dict(exc.headers or {})
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return error_response(exc, headers or None)

    async def on_validation(_: Request, exc: Exception) -> JsonResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(_validation(exc))

    async def on_http(_: Request, exc: Exception) -> JsonResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = {404: "no such resource", 405: "method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        error = ApiError(exc.status_code, codes.get(exc.status_code, "http_error"), message)
        return error_response(error, dict(exc.headers or {}))

    async def on_unexpected(request: Request, exc: Exception) -> JsonResponse:
        # Only the class name: exception messages can carry submitted values.
        log.error(
            "unhandled %s on %s %s request_id=%s",
            type(exc).__name__,
            request.method,
            _route(request),
            request_id.current(),
        )
        return error_response(ApiError(500, "internal", "internal error; the request failed"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "-"))


class CeilingError(ApiError):
    """A payment beyond the most the loan can take today: the 422 carries that ceiling."""

    def __init__(self, message: str, ceiling: object) -> None:
        super().__init__(422, "overpayment_ceiling", message, "amount")
        self.ceiling = str(ceiling)

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["ceiling"] = self.ceiling
        return body
