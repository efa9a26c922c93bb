"""Reading configuration files: an operator's TOML file, or the packaged default of that name.

One loader for every configuration (decision config, policy, product catalogue, servicing): it
reads and parses the TOML, then hands the plain dict to the model's pure ``parse_*`` function, so
the models themselves never touch the file system. Failures are the caller's error type with a
message that names the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

PACKAGED_IN = "creditgraph.decision"
"""The package whose ``catalogue/`` directory holds the packaged defaults (package data)."""
PACKAGED_DIR = "catalogue"

Parsed = TypeVar("Parsed")


def packaged_text(name: str) -> str:
    """The text of the packaged default ``catalogue/<name>``."""
    return (
        resources.files(PACKAGED_IN)
        .joinpath(PACKAGED_DIR)
        .joinpath(name)
        .read_text(encoding="utf-8")
    )


def read_toml(path: Path | None, default_name: str, error: type[ValueError]) -> dict[str, Any]:
    """The parsed TOML at ``path``, or the packaged default ``catalogue/<default_name>``."""
    try:
        if path is None:
            text = packaged_text(default_name)
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


def load(
    path: Path | None,
    default_name: str,
    parse: Callable[[dict[str, Any]], Parsed],
    error: type[ValueError],
) -> Parsed:
    """The configuration at ``path`` (or the packaged default), validated by ``parse``."""
    return parse(read_toml(path, default_name, error))


def load_file_or_packaged(
    path: Path | None,
    package: str,
    name: str,
    parse: Callable[[dict[str, Any]], Parsed],
    error: type[ValueError],
) -> Parsed:
    """The configuration at ``path``, or the file ``name`` shipped in ``package`` (package data
    beside the code that reads it, e.g. ``creditgraph.monitoring``'s TOML files)."""
    if path is not None:
        return load(path, name, parse, error)
    packaged = resources.files(package).joinpath(name)
    with resources.as_file(packaged) as packaged_path:
        return load(packaged_path, name, parse, error)
