"""What every configuration model shares: a frozen, extra-forbidding base, exact decimals, and
pydantic's errors as one line that names the field.

Pure on purpose: the decision engine and servicing import the models built on this, so nothing
here reads files (that is ``creditgraph.configfile``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError


class FrozenConfig(BaseModel):
    """A configuration section: immutable once validated, and a misspelt key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def no_float(value: object) -> object:
    """Refuse TOML floats where money or rates are meant: ``0.1`` is not one tenth."""
    if isinstance(value, float):
        raise ValueError(f"write {value!r} as a quoted decimal string, not a float")
    return value


ConfigDecimal = Annotated[Decimal, BeforeValidator(no_float)]
"""A Decimal that must be written as a quoted string (or an integer) in the file."""


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``field.path: message; ...`` on one line."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
