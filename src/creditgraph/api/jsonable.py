"""Plain JSON from service results: money stays an exact decimal string, never a float.

orjson does the walking (it knows dicts, lists, tuples, dates, enums and dataclasses natively, and
is several times faster than a Python walk); ``_fallback`` turns what it does not know into JSON
the way the API promises: Decimals and anything else as strings, sets as lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _fallback(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


def dumps(value: Any) -> bytes:
    """UTF-8 JSON bytes of ``value``."""
    return orjson.dumps(value, default=_fallback, option=_OPTIONS)


def to_json(value: Any) -> Any:
    """``value`` as JSON-ready data; Decimals become strings so no amount is rounded by a float."""
    return orjson.loads(dumps(value))


class JsonResponse(JSONResponse):
    """A JSON response rendered by orjson, with the same rules as ``to_json``."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
