"""Reading packaged or operator TOML files, and turning pydantic errors into one-line messages."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

PACKAGED = "catalogue"


def read_toml(path: Path | None, default_name: str, error: type[ValueError]) -> dict[str, Any]:
    """The parsed TOML at ``path``, or the packaged default ``catalogue/<default_name>``."""
    try:
        if path is None:
            text = (
                resources.files("creditgraph.decision")
                .joinpath(PACKAGED)
                .joinpath(default_name)
                .read_text(encoding="utf-8")
            )
            where = f"packaged {default_name}"
        else:
            text = Path(path).read_text(encoding="utf-8")
            where = str(path)
    except OSError as exc:
        raise error(f"cannot read {path or default_name}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where} is not valid TOML: {exc}") from None


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``field.path: message; ...`` on one line."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def no_float(value: object) -> object:
    """Refuse TOML floats where money or rates are meant: ``0.1`` is not one tenth."""
    if isinstance(value, float):
        raise ValueError(f"write {value!r} as a quoted decimal string, not a float")
    return value
