"""Checking that the code and tests a report names exist, at run time.

A compliance report that cites ``decision.pricing:price`` and ``tests/test_x.py::test_y`` is
only worth its citations: each code reference must import (module, then attribute path) and each
test reference must name a test function present in the test file. Tests ship with the source
tree, not the installed package; an installed product reports "test file not shipped" instead of
failing.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import creditgraph

RefStatus = Literal["ok", "missing", "not_shipped"]


@dataclass(frozen=True, slots=True)
class Checked:
    ref: str
    status: RefStatus
    detail: str = ""


def check_code(ref: str) -> Checked:
    """``package.module:attr.attr`` imports and has the attribute path."""
    module_name, _, attr_path = ref.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        return Checked(ref, "missing", f"module does not import: {exc}")
    for part in attr_path.split(".") if attr_path else ():
        if not hasattr(target, part):
            return Checked(ref, "missing", f"{module_name} has no {attr_path}")
        target = getattr(target, part)
    return Checked(ref, "ok")


def source_root() -> Path | None:
    """The source tree's root when running from one (it holds ``pyproject.toml`` and ``tests``)."""
    root = Path(creditgraph.__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "tests").is_dir():
        return root
    return None


@cache
def _tests_in(path: Path, mtime_ns: int) -> frozenset[str]:
    """``name`` and ``Class::name`` of every test function in a test file."""
    del mtime_ns  # part of the cache key only: an edited file is read again
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for inner in node.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(f"{node.name}::{inner.name}")
    return frozenset(names)


def check_test(ref: str, root: Path | None = None) -> Checked:
    """``tests/test_x.py::test_name`` (or ``::Class::test_name``) is defined in the test file."""
    where = source_root() if root is None else root
    file_part, _, name = ref.partition("::")
    if where is None:
        return Checked(ref, "not_shipped", "test file not shipped")
    path = where / file_part
    if not path.is_file():
        return Checked(ref, "missing", f"no test file {file_part}")
    if not name:
        return Checked(ref, "ok")
    if name not in _tests_in(path, path.stat().st_mtime_ns):
        return Checked(ref, "missing", f"{file_part} has no test {name}")
    return Checked(ref, "ok")
