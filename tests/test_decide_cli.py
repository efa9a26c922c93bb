"""``creditgraph decide`` and ``creditgraph review`` on a small simulated world: exit codes."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from creditgraph.cli import decide_cmd
from creditgraph.settings import Settings, get_settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import OnlineFeatures
from tests.scored_world import scored_world


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    decide_cmd.register(app)
    return app


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return scored_world(tmp_path_factory.mktemp("decide-cli"), people=600, seed=5)


@pytest.fixture
def env(home: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home.home_dir))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def _people(settings: Settings) -> list[str]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(OnlineFeatures.person_id).order_by(OnlineFeatures.person_id).limit(200)
                ).scalars()
            )
    finally:
        engine.dispose()


def test_decide_one_prints_json_and_exit_codes(env: Settings) -> None:
    runner = CliRunner()
    person = _people(env)[0]
    args = ["decide", "--person", person, "--product", "XFD-MED", "--amount", "6000"]
    ok = runner.invoke(_app(), [*args, "--term", "12", "--json"])
    assert ok.exit_code == 0, ok.output
    record = json.loads(ok.stdout)
    assert record["person_id"] == person and record["outcome"] in ("approve", "refer", "decline")
    text = runner.invoke(_app(), [*args, "--term", "12"])
    assert text.exit_code == 0 and record["outcome"].upper() in text.stdout
    bad_term = runner.invoke(_app(), [*args, "--term", "7"])
    assert bad_term.exit_code == 2 and "not a term of XFD-MED" in bad_term.stderr
    unknown = runner.invoke(
        _app(),
        ["decide", "--person", "nobody", "--product", "XFD-MED", "--amount", "1", "--term", "6"],
    )
    assert unknown.exit_code == 2 and "unknown person 'nobody'" in unknown.stderr
    product = runner.invoke(
        _app(),
        ["decide", "--person", person, "--product", "NOPE", "--amount", "5000", "--term", "6"],
    )
    assert product.exit_code == 2 and "unknown product 'NOPE'" in product.stderr
    missing = runner.invoke(_app(), ["decide", "--person", person])
    assert missing.exit_code == 2 and "missing --product, --amount, --term" in missing.stderr
    assert "Traceback" not in missing.output + unknown.output + product.output


def test_decide_a_file_writes_results_and_reports_bad_rows(env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    a, b = _people(env)[:2]
    apps = tmp_path / "apps.csv"
    apps.write_text(
        "person,product,amount,term,purpose\n"
        f"{a},XFD-MED,5000,12,medical\n"
        f"{b},XFD-MED,5000,99,medical\n",
        encoding="utf-8",
    )
    out = tmp_path / "results.csv"
    result = runner.invoke(_app(), ["decide", "--applications", str(apps), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "1 decided" in result.stdout and "row 2: term_months" in result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["status"] for r in rows] == ["decided", "error"]
    assert rows[0]["decision_id"].startswith("dec_") and rows[1]["error_field"] == "term_months"
    good = tmp_path / "good.csv"
    good.write_text(f"person,product,amount,term\n{a},XFD-MED,5000,12\n", encoding="utf-8")
    assert runner.invoke(_app(), ["decide", "--applications", str(good)]).exit_code == 0
    missing = runner.invoke(_app(), ["decide", "--applications", str(tmp_path / "no.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_review_commands_list_take_approve_decline(env: Settings) -> None:
    from creditgraph.decision.service import DecisionService

    runner = CliRunner()
    engine = make_engine(env.database_url)
    try:
        service = DecisionService(engine, env)
        decided = []
        for person in _people(env):
            decided.append(service.decide_for(person, "XFD-MED", "8000", 12))
            if decided[-1]["reviews"]:
                break
    finally:
        engine.dispose()
    referred = [d for d in decided if d["reviews"]]
    assert referred, "no referral among the people tried"
    request = referred[0]["reviews"][0]["id"]
    listed = runner.invoke(_app(), ["review", "list", "--json"])
    assert listed.exit_code == 0 and request in {r["id"] for r in json.loads(listed.stdout)}
    taken = runner.invoke(_app(), ["review", "take", request, "--officer", "officer-3"])
    assert taken.exit_code == 0 and "taken by officer-3" in taken.stdout
    approved = runner.invoke(
        _app(), ["review", "approve", request, "--officer", "officer-3", "--note", "verified"]
    )
    assert approved.exit_code == 0 and "approved" in approved.stdout
    twice = runner.invoke(
        _app(), ["review", "decline", request, "--officer", "officer-3", "--note", "again"]
    )
    assert twice.exit_code == 2 and "already approved" in twice.stderr
    asked = runner.invoke(
        _app(), ["review", "request", decided[0]["id"], "--by", "applicant-1", "--note", "why?"]
    )
    assert asked.exit_code == 0 and "opened" in asked.stdout
    bad_status = runner.invoke(_app(), ["review", "list", "--status", "lost"])
    assert bad_status.exit_code == 2 and "unknown review status" in bad_status.stderr
