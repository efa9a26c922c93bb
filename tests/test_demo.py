"""The end-to-end demo runs every stage on a small world and says what it did."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.settings import get_settings

SRC = Path(__file__).resolve().parents[1] / "src" / "creditgraph"


def test_demo_runs_every_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--people", "1500", "--seed", "3"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    for marker in (
        "1. Simulate",
        "2. Ingest",
        "3. Credit graph",
        "no_consent",
        "4. Scoring",
        "champion 冠军模型",
        "5. Decisions",
        "6. Servicing",
        "portfolio by delinquency bucket",
        "M3+",
        "by month on book",
        "ever 90+ DPD",
        "written off 已核销",
        "labels for scoring",
        "trial balance 试算平衡: difference 0.00, balanced",
        "7. Real-time monitoring",
        "alerts by type",
        "against the planted truth",
        "rings found vs planted",
        "median lead time",
        "alert 预警",
        "8. Audit log",
        "what the log commits to",
        "checkpoint 检查点 cosigned by witness.bank-a.example, witness.bank-b.example",
        "verified offline with audit.pub",
        "opening matches the decision",
        "root matches the signed checkpoint: OK",
        "tampered record caught 篡改已发现: consent",
        "split view 分叉视图",
        "refused (409)",
        "9. Privacy and compliance",
        "consent revoked 撤回同意",
        "purge of the source's rows scheduled",
        "consent_revoked 1",
        "features after the revocation",
        "export before the erasure",
        "legal hold 法定保留",
        "lake compacted",
        "master key rotated",
        "not found in",
        "export after the erasure 删除后导出: refused",
        "合规检查 Compliance check — CN pack",
        "合计 Summary: PASS",
        "10. Web workspace",
        "creditgraph serve --port 8000",
        "http://127.0.0.1:8000/login",
        "demo user 演示用户 demo-admin",
        "demo finished",
    ):
        assert marker in result.output, marker
    assert "1,500 people x 86 features" in result.output
    _demo_user_logs_in(result.output)
    report = result.output.split("validation report 验证报告:", 1)[1].split()[0]
    assert Path(report).is_file() and Path(report).read_text().startswith("<!DOCTYPE html>")


def test_demo_world_does_not_depend_on_the_home_or_the_wall_clock(tmp_path: Path) -> None:
    """Two fresh homes get the same pseudonym key from one seed; decisions happen at world end."""
    from datetime import date, datetime

    from creditgraph.demo.decisions import decision_time
    from creditgraph.demo.ingest import demo_key
    from creditgraph.privacy.pseudonym import load_or_create_key

    first = load_or_create_key(tmp_path / "a" / "pseudonym.key", new_key=demo_key(7))
    second = load_or_create_key(tmp_path / "b" / "pseudonym.key", new_key=demo_key(7))
    assert first == second != demo_key(8)
    # an existing key is kept, whatever the seed
    assert load_or_create_key(tmp_path / "a" / "pseudonym.key", new_key=demo_key(8)) == first
    assert decision_time(date(2026, 6, 30), "Asia/Shanghai") == datetime(2026, 6, 30, 16)


def test_servicing_tables_read_at_eighty_columns() -> None:
    """The vintage curve is one row per month on book, nothing cut short at 80 columns; money in
    the trial balance has thousands separators."""
    from datetime import date

    from rich.console import Console

    from creditgraph.console.display import yuan as _yuan
    from creditgraph.demo.portfolio import VintageCurve

    curve = VintageCurve(date(2026, 7, 1), 417)
    curve.marks = {m: (2 * m, m) for m in range(1, 13)}
    console = Console(width=80, record=True)
    console.print(curve.table())
    text = console.export_text()
    assert "…" not in text
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(rows) == 12
    assert [cell.strip() for cell in rows[-1].split("│")[1:5]] == ["12", "5.8%", "2.9%", "417"]
    assert _yuan("6812517.36") == "6,812,517.36" and _yuan("-0.50") == "-0.50"


def _imported_modules(package: Path) -> dict[str, set[str]]:
    """Every module each file of ``package`` imports, at the top or inside a function."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path.relative_to(SRC).as_posix()] = names
    return found


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_demo_and_console_do_not_import_the_cli() -> None:
    """The CLI runs the demo, so the demo prints through ``console``, which imports neither."""
    offending = [
        (path, module)
        for package, forbidden in (
            ("demo", ("creditgraph.cli",)),
            ("console", ("creditgraph.cli", "creditgraph.demo")),
        )
        for path, modules in _imported_modules(SRC / package).items()
        for module in sorted(modules)
        if any(_under(module, name) for name in forbidden)
    ]
    assert offending == []


def test_stages_run_in_the_order_the_demo_prints_them() -> None:
    from creditgraph.demo import STAGES

    assert [name for name, _ in STAGES] == [
        "simulate",
        "ingest",
        "features",
        "scoring",
        "decisions",
        "servicing",
        "monitoring",
        "audit",
        "privacy",
        "workspace",
    ]
    assert all(stage.__module__.startswith("creditgraph.demo.") for _, stage in STAGES)


def _demo_user_logs_in(output: str) -> None:
    """The printed demo credentials open the workspace of the demo's home."""
    from creditgraph.settings import get_settings
    from creditgraph.store.db import migrated_engine
    from creditgraph.web.users import UserStore

    password = output.split("password 密码", 1)[1].split()[0]
    with migrated_engine(get_settings().database_url) as db:
        result = UserStore(db).authenticate("demo-admin", password)
    assert result.outcome == "ok" and result.user is not None
    assert result.user.role.value == "admin"
