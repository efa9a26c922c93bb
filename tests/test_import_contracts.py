"""The layer contracts in pyproject.toml hold, and each one fails when its rule is broken.

Each violation case copies the package to a temporary directory, adds one forbidden import and
runs ``lint-imports`` (as ``make lint`` does) on the copy: the contract that guards the rule must
be reported broken and the command must exit non-zero.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "creditgraph"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(PACKAGE, src / "creditgraph", ignore=shutil.ignore_patterns("__pycache__"))
    return src


def test_the_package_keeps_every_contract(clean_copy: Path) -> None:
    result = lint(clean_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert "0 broken" in result.stdout


VIOLATIONS = [
    pytest.param(
        "servicing/schedules.py",
        "import sqlalchemy\n",
        "The pure core imports no database",
        id="schedule-maths-imports-sqlalchemy",
    ),
    pytest.param(
        "decision/engine.py",
        "from creditgraph.store import db\n",
        "The pure core imports no database",
        id="decision-engine-reaches-the-store",
    ),
    pytest.param(
        "servicing/core/__init__.py",
        "import pathlib\n",
        "The pure core imports no database",
        id="servicing-core-does-file-io",
    ),
    pytest.param(
        "servicing/payment_audit.py",
        "from sqlalchemy import select\n",
        "In servicing only the book",
        id="a-servicing-service-writes-sql",
    ),
    pytest.param(
        "store/db.py",
        "from creditgraph.cli import main\n",
        "Interfaces above services",
        id="store-imports-an-interface",
    ),
    pytest.param(
        "servicing/schedules.py",
        "from creditgraph.decision import engine\n",
        "Interfaces above services",
        id="servicing-imports-decision",
    ),
    pytest.param(
        "graph/csr.py",
        "from creditgraph.graph import pagerank\n",
        "No import cycles",
        id="module-cycle-inside-a-package",
    ),
]


@pytest.mark.parametrize(("module", "line", "contract"), VIOLATIONS)
def test_a_violation_breaks_its_contract(
    tmp_path: Path, clean_copy: Path, module: str, line: str, contract: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(clean_copy, src)
    target = src / "creditgraph" / module
    before = target.read_text(encoding="utf-8") if target.exists() else ""
    target.write_text(before + "\n" + line, encoding="utf-8")
    result = lint(src)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout
