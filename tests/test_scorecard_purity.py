"""The card, its codec, value coercion and the scorer are pure: no files, no database, no web.

Only ``card_file`` reads and writes the artifact; everything else must be usable where there is
no file system to speak of, and importable without the service layer's libraries.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

SCORING = REPO_ROOT / "src" / "creditgraph" / "scoring"
PURE = ("card", "card_codec", "coercion", "scorer")
FORBIDDEN = ("pathlib", "os", "io", "shutil", "tempfile", "sqlalchemy", "duckdb", "fastapi")


def imported_roots(source: str) -> set[str]:
    """Top-level names of every module a source imports, at module level or inside functions."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def opens_files(source: str) -> bool:
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
        for node in ast.walk(ast.parse(source))
    )


def test_the_checks_see_file_io() -> None:
    assert "pathlib" in imported_roots("def f():\n    from pathlib import Path\n")
    assert opens_files("with open('card.json') as f:\n    pass\n")


@pytest.mark.parametrize("module", PURE)
def test_pure_scoring_modules_import_no_file_database_or_web_library(module: str) -> None:
    source = (SCORING / f"{module}.py").read_text(encoding="utf-8")
    assert imported_roots(source).isdisjoint(FORBIDDEN)
    assert not opens_files(source)


def test_scoring_a_row_loads_no_service_library() -> None:
    script = (
        "import sys\n"
        "from creditgraph.scoring.card_codec import card_from_dict\n"
        "from creditgraph.scoring.scorer import Scorer\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'duckdb', 'fastapi'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert done.stdout.strip() == "[]"
