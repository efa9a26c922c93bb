"""The compliance pack and its check: the pack is validated with errors naming the field; the
packaged configuration passes; a configuration looser than the pack FAILs (and the CLI exits 1);
every code and test the report cites exists; model versions carry their PIPIA id. PASS only
where a value in force was compared with the pack; rows resting on citations say CITED, and
what the check cannot see says NOT ASSESSED."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from typer.testing import CliRunner

from creditgraph import configfile
from creditgraph.cli.main import app
from creditgraph.compliance import references
from creditgraph.compliance.check import CITED_ONLY, report_json, run_check
from creditgraph.compliance.facts import DatabaseFacts, read_facts
from creditgraph.compliance.fairness import AttributeResult, FairnessReport, GroupResult
from creditgraph.compliance.fairness import Status as FairnessStatus
from creditgraph.compliance.pack import PackError, parse_pack
from creditgraph.compliance.pack_files import load_pack, packaged_packs
from creditgraph.compliance.references import check_code, check_test
from creditgraph.compliance.render import render_text
from creditgraph.compliance.requirements import REQUIREMENTS, Context
from creditgraph.compliance.service import compliance_check
from creditgraph.decision.config import parse_config
from creditgraph.decision.config_files import load_config
from creditgraph.scoring.registry import FAMILIES
from creditgraph.settings import Settings, get_settings
from tests.conftest import REPO_ROOT

PACK_TOML = REPO_ROOT / "src" / "creditgraph" / "compliance" / "packs" / "cn.toml"


def _pack_data() -> dict[str, Any]:
    return tomllib.loads(PACK_TOML.read_text(encoding="utf-8"))


def _config_data() -> dict[str, Any]:
    return configfile.read_toml(None, "config.toml", ValueError)


def _statuses(**config_changes: dict[str, Any]) -> dict[str, str]:
    data = _config_data()
    for section, values in config_changes.items():
        data[section] = {**data[section], **values}
    report = run_check(Context(load_pack(), parse_config(data)))
    return {row.requirement.id: row.status for row in report.rows}


# -- the pack --------------------------------------------------------------------------------------


def test_the_packaged_cn_pack_is_the_default_and_states_the_caps() -> None:
    pack = load_pack()
    assert packaged_packs() == ["cn"] and pack.jurisdiction == "CN"
    assert pack.version and pack.effective_from == date(2026, 1, 1) and len(pack.hash) == 64
    assert pack.rate_caps["micro_lender"].annual_cap == Decimal("0.24")
    assert pack.rate_caps["lpr_multiple"].max_lpr_multiple == Decimal(4)
    assert "法释〔2020〕17号" in pack.rate_caps["lpr_multiple"].source
    assert pack.lending.outstanding_cap == Decimal(200000)
    assert pack.lending.income_share_cap == Decimal("0.3333")
    assert pack.data_residency.personal_data_in_prc is True
    assert pack.fairness.min_ratio == Decimal("0.8")


def test_every_model_family_has_an_impact_assessment() -> None:
    pack = load_pack()
    for family in FAMILIES:
        assert pack.impact_assessment_of(family), family
    assert pack.impact_assessment_of("no-such-family") is None


def test_the_disclosure_states_the_all_in_rate_in_both_languages() -> None:
    shown = load_pack().disclosure.render(Decimal("0.18"))
    assert "18.00%" in shown.zh and "年化综合资金成本" in shown.zh
    assert "18.00%" in shown.en and "internal-rate-of-return" in shown.en


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": ""}, "version: String should have at least 1 character"),
        ({"jurisdiction": "China"}, "jurisdiction: String should match pattern"),
        ({"rate_caps": {"micro_lender": {"annual_cap": 0.24, "source": "x"}}}, "quoted decimal"),
        (
            {
                "rate_caps": {
                    "micro_lender": {"annual_cap": "0.24", "max_lpr_multiple": "4", "source": "x"}
                }
            },
            "exactly one of annual_cap or max_lpr_multiple",
        ),
        (
            {"rate_caps": {"bank": {"annual_cap": "1.5", "source": "x"}}},
            "rate_caps.bank.annual_cap",
        ),
        ({"impact_assessments": {"scorecard": " "}}, "impact_assessments.scorecard"),
        ({"lending": {"outstanding_cap": "200000"}}, "lending.income_share_cap: Field required"),
        ({"fairness": {"min_ratio": "1.2"}}, "fairness.min_ratio"),
        ({"unexpected": 1}, "unexpected: Extra inputs are not permitted"),
    ],
)
def test_a_bad_pack_is_refused_naming_the_field_and_rule(
    change: dict[str, Any], message: str
) -> None:
    data = {**_pack_data(), **change}
    with pytest.raises(PackError, match="compliance pack") as caught:
        parse_pack(data)
    assert message in str(caught.value)


def test_a_disclosure_without_the_rate_is_refused() -> None:
    data = _pack_data()
    data["disclosure"] = {**data["disclosure"], "en": "The rate is shown elsewhere."}
    with pytest.raises(PackError, match=r"disclosure.en must contain \{all_in_rate\}"):
        parse_pack(data)


def test_unknown_packs_and_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="unknown compliance pack 'xx'; packaged packs: cn"):
        load_pack("xx")
    with pytest.raises(PackError, match="unknown compliance pack"):
        load_pack("../decision/catalogue/config")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = [", encoding="utf-8")
    with pytest.raises(PackError, match=r"broken\.toml is not valid TOML"):
        load_pack(path=broken)
    with pytest.raises(PackError, match="cannot read"):
        load_pack(path=tmp_path / "absent.toml")


# -- the check -----------------------------------------------------------------------------------


def test_the_configuration_in_force_passes_the_pack() -> None:
    report = compliance_check()
    assert not report.failed
    by_id = {row.requirement.id: row for row in report.rows}
    rate = by_id["lending.rate_cap"]
    assert (rate.status, rate.pack_value, rate.in_force) == (
        "PASS",
        "24% (micro_lender)",
        "24% (micro_lender)",
    )
    assert by_id["lending.outstanding_cap"].status == "PASS"
    assert by_id["lending.income_share"].status == "PASS"
    # nothing enforces a cooling-off period yet: reported, not hidden, not a failure
    assert by_id["lending.cooling_off"].status == "MISSING"
    assert report.fairness is None
    # only the rows whose value in force was compared with the pack say PASS
    assert {r.requirement.id for r in report.rows if r.status == "PASS"} == {
        "lending.rate_cap",
        "lending.outstanding_cap",
        "lending.income_share",
    }


def test_a_row_resting_on_its_citations_says_cited_not_pass() -> None:
    report = compliance_check()
    by_id = {row.requirement.id: row for row in report.rows}
    for cited in (
        "privacy.consent_per_purpose",
        "privacy.sharing",
        "privacy.retention",
        "lending.all_in_disclosure",
        # without a database, encryption and erasure are not measured either
        "privacy.encryption",
        "privacy.access_correction_erasure",
    ):
        assert by_id[cited].status == "CITED", cited
    assert by_id["privacy.sharing"].in_force == CITED_ONLY
    assert "not read (no database given)" in by_id["privacy.encryption"].in_force
    text = render_text(report)
    assert "[CITED 已引用] privacy.consent_per_purpose" in text
    counts = report.counts
    assert f"合计 Summary: PASS {counts['PASS']}, FAIL 0, MISSING {counts['MISSING']}, " in text
    assert f"CITED {counts['CITED']}, NOT ASSESSED {counts['NOT ASSESSED']}" in text
    assert report_json(report)["summary"]["CITED"] == counts["CITED"] >= 6


def test_what_the_check_cannot_see_is_not_assessed() -> None:
    report = compliance_check(database_url="postgresql+psycopg://cg:s3cret@db.internal:5432/cg")
    by_id = {row.requirement.id: row for row in report.rows}
    residency = by_id["privacy.data_residency"]
    assert residency.status == "NOT ASSESSED"
    assert "cannot see where the database is hosted" in residency.in_force
    assert "postgresql at db.internal:5432" in residency.in_force
    assert "s3cret" not in residency.in_force and "cg:" not in residency.in_force
    fairness = by_id["fairness.four_fifths"]
    assert (fairness.status, fairness.in_force) == (
        "NOT ASSESSED",
        "not assessed: no database given",
    )
    assert by_id["privacy.impact_assessment"].status == "NOT ASSESSED"
    assert "[NOT ASSESSED 未评估] privacy.data_residency" in render_text(report)
    assert not report.failed


def _group(group: str, ratio: float | None, status: FairnessStatus) -> GroupResult:
    return GroupResult("gender", group, 100, 50, 0.5, ratio, status, 0, None, None)


def test_fairness_passes_or_fails_only_when_a_group_was_judged() -> None:
    pack, config = load_pack(), load_config()

    def status(*groups: GroupResult, decisions: int = 300) -> str:
        attribute = AttributeResult("gender", "female", groups, None, 0)
        report = FairnessReport(decisions, Decimal("0.8"), 50, (attribute,) if groups else ())
        checked = run_check(Context(pack, config), fairness=report, fairness_period="2026-06")
        return next(r.status for r in checked.rows if r.requirement.id == "fairness.four_fifths")

    reference = _group("female", 1.0, "reference")
    assert status(decisions=0) == "NOT ASSESSED"
    assert status(reference, _group("male", None, "insufficient")) == "NOT ASSESSED"
    assert status(reference, _group("male", 0.9, "pass")) == "PASS"
    assert status(reference, _group("male", 0.7, "fail")) == "FAIL"


def test_measured_encryption_and_erasure_fail_on_a_leftover_fact() -> None:
    pack, config = load_pack(), load_config()
    clean = DatabaseFacts(10, 0, (), 1, {"person_keys": 0}, 2, 0)

    def statuses(facts: DatabaseFacts) -> tuple[str, str]:
        rows = {
            r.requirement.id: r.status for r in run_check(Context(pack, config, facts=facts)).rows
        }
        return rows["privacy.encryption"], rows["privacy.access_correction_erasure"]

    assert statuses(clean) == ("PASS", "PASS")
    plaintext = DatabaseFacts(10, 0, ("person_identities.name",), 1, {"person_keys": 0}, 2, 0)
    assert statuses(plaintext) == ("FAIL", "PASS")
    assert statuses(DatabaseFacts(10, 1, (), 1, {"person_keys": 0}, 2, 0)) == ("FAIL", "PASS")
    assert statuses(DatabaseFacts(10, 0, (), 1, {"person_keys": 1}, 2, 0)) == ("PASS", "FAIL")
    assert statuses(DatabaseFacts(10, 0, (), 1, {"person_keys": 0}, 2, 1)) == ("PASS", "FAIL")


def test_the_database_facts_pass_a_clean_database_and_fail_a_leftover(
    tmp_path: Path, settings: Settings
) -> None:
    """On a real ingested world: after an erasure the facts hold and the measured rows PASS;
    an erased person's key put back, a living person's key lost and a request left past its
    deadline each show, and the check FAILs."""
    from creditgraph.ingest.service import ingest
    from creditgraph.privacy.erasure import erase
    from creditgraph.store.db import make_engine
    from creditgraph.store.models import PersonKey, SubjectRequest, table_of
    from tests import world
    from tests.identities import pseudonyms

    ingest(world.write_world(tmp_path / "in"), settings)
    people = sorted(pseudonyms(settings.database_url).values())
    erased, kept = people[0], people[1]
    engine = make_engine(settings.database_url)
    try:
        erase(engine, erased, "DSR-1")
        facts = read_facts(engine)
        assert (facts.persons, facts.persons_without_key, facts.plaintext_columns) == (
            len(people) - 1,
            0,
            (),
        )
        assert facts.erased == 1 and not any(facts.erased_with_rows.values())
        report = compliance_check(engine=engine, period="2026-06")
        by_id = {row.requirement.id: row for row in report.rows}
        assert by_id["privacy.encryption"].status == "PASS"
        assert (
            f"0 of {len(people) - 1} people without a data key"
            in by_id["privacy.encryption"].in_force
        )
        assert by_id["privacy.access_correction_erasure"].status == "PASS"
        assert by_id["fairness.four_fifths"].status == "NOT ASSESSED"
        residency = by_id["privacy.data_residency"].in_force
        assert "postgres@" not in residency and (
            "SQLite" in residency or "postgresql at" in residency
        )

        keys, requests = table_of(PersonKey), table_of(SubjectRequest)
        past = datetime(2026, 1, 1)
        with engine.begin() as conn:
            row = dict(conn.execute(select(keys).where(keys.c.person_id == kept)).mappings().one())
            conn.execute(delete(keys).where(keys.c.person_id == kept))
            conn.execute(insert(keys).values({**row, "person_id": erased}))
            conn.execute(
                insert(requests).values(
                    id="req-late",
                    person_id=kept,
                    kind="access",
                    status="received",
                    requested_by="subject",
                    received_at=past,
                    due_at=past + timedelta(days=15),
                )
            )
        facts = read_facts(engine)
        assert facts.persons_without_key == 1 and facts.erased_with_rows["person_keys"] == 1
        assert (facts.open_requests, facts.overdue_requests) == (1, 1)
        report = compliance_check(engine=engine, period="2026-06")
    finally:
        engine.dispose()
    by_id = {row.requirement.id: row for row in report.rows}
    assert by_id["privacy.encryption"].status == "FAIL"
    erasure_row = by_id["privacy.access_correction_erasure"]
    assert erasure_row.status == "FAIL" and "rows left: person_keys 1" in erasure_row.in_force
    assert "1 past due" in erasure_row.in_force and report.failed


def test_a_looser_rate_cap_fails_the_check() -> None:
    assert _statuses(pricing={"micro_lender_cap": "0.36"})["lending.rate_cap"] == "FAIL"
    assert _statuses(pricing={"micro_lender_cap": "0.18"})["lending.rate_cap"] == "PASS"
    lpr = {"licence": "lpr_multiple", "lpr_1y": "0.0300"}
    assert _statuses(pricing={**lpr, "lpr_multiple": "4"})["lending.rate_cap"] == "PASS"
    assert _statuses(pricing={**lpr, "lpr_multiple": "4.5"})["lending.rate_cap"] == "FAIL"


def test_looser_balance_and_income_caps_fail_the_check() -> None:
    assert _statuses(limits={"outstanding_cap": "300000"})["lending.outstanding_cap"] == "FAIL"
    assert _statuses(limits={"income_share_cap": "0.5"})["lending.income_share"] == "FAIL"
    stricter = _statuses(limits={"outstanding_cap": "100000", "income_share_cap": "0.25"})
    assert stricter["lending.outstanding_cap"] == stricter["lending.income_share"] == "PASS"


def test_a_pack_without_the_licence_in_force_fails() -> None:
    data = _pack_data()
    data["rate_caps"] = {"bank": data["rate_caps"]["bank"]}
    report = run_check(Context(parse_pack(data), load_config()))
    row = next(r for r in report.rows if r.requirement.id == "lending.rate_cap")
    assert row.status == "FAIL" and row.pack_value == "no annual cap for micro_lender"


def test_champions_must_carry_their_familys_impact_assessment() -> None:
    pack, config = load_pack(), load_config()

    def status(champions: dict[str, tuple[str, str | None]]) -> str:
        report = run_check(Context(pack, config, champions))
        return next(
            r.status for r in report.rows if r.requirement.id == "privacy.impact_assessment"
        )

    good: dict[str, tuple[str, str | None]] = {"scorecard-1": ("scorecard", "PIPIA-CN-2026-001")}
    assert status(good) == "PASS"
    assert status({"scorecard-1": ("scorecard", None)}) == "FAIL"
    assert status({"scorecard-1": ("scorecard", "PIPIA-OLD")}) == "FAIL"


def test_every_cited_code_symbol_and_test_exists() -> None:
    for requirement in REQUIREMENTS:
        for ref in requirement.code:
            checked = check_code(ref)
            assert checked.status == "ok", f"{requirement.id}: {checked.detail}"
        for ref in requirement.tests:
            checked = check_test(ref)
            assert checked.status == "ok", f"{requirement.id}: {checked.detail}"


def test_a_renamed_function_or_deleted_test_shows_as_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert check_code("creditgraph.decision.pricing:price").status == "ok"
    assert check_code("creditgraph.decision.pricing:no_such").status == "missing"
    assert check_code("creditgraph.no_such_module:x").status == "missing"
    assert check_test("tests/test_apr.py::test_fees_raise_the_rate").status == "ok"
    assert check_test("tests/test_apr.py::test_no_such_test").status == "missing"
    assert check_test("tests/test_no_such_file.py::test_x").status == "missing"
    # an installed package ships no tests: noted, not counted missing
    monkeypatch.setattr(references, "source_root", lambda: None)
    shipped = check_test("tests/test_apr.py::test_fees_raise_the_rate")
    assert (shipped.status, shipped.detail) == ("not_shipped", "test file not shipped")


def test_the_report_reads_in_both_languages_and_as_json() -> None:
    report = compliance_check()
    text = render_text(report)
    assert "合规检查 Compliance check" in text and "CN pack 2026.1" in text
    assert "[PASS 通过] lending.rate_cap" in text and "PIPL Art. 24" in text
    body = report_json(report)
    assert body["pack"]["jurisdiction"] == "CN" and body["summary"]["FAIL"] == 0
    ids = [r["id"] for r in body["requirements"]]
    for expected in (
        "privacy.consent_per_purpose",
        "privacy.sensitive_consent",
        "privacy.encryption",
        "privacy.access_correction_erasure",
        "privacy.retention",
        "privacy.access_log",
        "privacy.automated_decision",
        "privacy.impact_assessment",
        "privacy.data_residency",
        "lending.rate_cap",
        "fairness.four_fifths",
    ):
        assert expected in ids


# -- the CLI ----------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_the_cli_exits_0_on_the_default_config_and_1_on_a_looser_one(home: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["compliance", "check", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["summary"]["FAIL"] == 0
    # --database reads the (fresh) database's facts: the schema's personal columns are measured
    measured = runner.invoke(app, ["compliance", "check", "--database", "--json"])
    assert measured.exit_code == 0, measured.output
    rows = {r["id"]: r for r in json.loads(measured.stdout)["requirements"]}
    assert rows["privacy.encryption"]["status"] == "PASS"
    assert rows["privacy.data_residency"]["status"] == "NOT ASSESSED"
    assert "a SQLite file" in rows["privacy.data_residency"]["in_force"]
    looser = home / "config.toml"
    text = configfile.packaged_text("config.toml").replace(
        'micro_lender_cap = "0.24"', 'micro_lender_cap = "0.30"'
    )
    looser.write_text(text, encoding="utf-8")
    failed = runner.invoke(app, ["compliance", "check", "--config", str(looser)])
    assert failed.exit_code == 1
    assert (
        "[FAIL 不合规] lending.rate_cap" in failed.stdout and "30% (micro_lender)" in failed.stdout
    )


def test_the_cli_names_bad_input_in_one_line(home: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["compliance", "check", "--pack", "xx"])
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().count("\n") == 0 and "unknown compliance pack" in unknown.stderr
    bad_config = home / "bad.toml"
    bad_config.write_text('version = "x"\n[limits]\nmax_dti = 0.4\n', encoding="utf-8")
    refused = runner.invoke(app, ["compliance", "check", "--config", str(bad_config)])
    assert refused.exit_code == 2 and "limits" in refused.stderr
    assert "Traceback" not in refused.output


# -- model versions record their PIPIA id ------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str]]:
    """A small world whose models were trained with the pack's impact assessments (the
    scorecard promoted), and the ids of the versions registered."""
    from creditgraph.ingest.service import ingest
    from creditgraph.scoring import registry
    from creditgraph.scoring.service import train_models
    from creditgraph.simulate import SimulationConfig, simulate
    from creditgraph.store.db import migrated_engine
    from tests.scored_world import AS_OF

    root = tmp_path_factory.mktemp("pipia")
    result = simulate(SimulationConfig(people=600, seed=5), root / "world")
    settings = Settings(home=root / "home")
    ingest(sorted(result.files.values()), settings)
    out = train_models(
        settings, AS_OF, actor="analyst-1", impact_assessments=load_pack().impact_assessments
    )
    with migrated_engine(settings.database_url) as db:
        registry.promote(db, out.records["scorecard"].id, "risk-head")
    return settings, [record.id for record in out.records.values()]


def test_model_versions_carry_their_familys_impact_assessment(
    trained: tuple[Settings, list[str]],
) -> None:
    from creditgraph.audit.kinds import kind_of
    from creditgraph.compliance.service import read_champions
    from creditgraph.store.db import make_engine

    settings, registered = trained
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            loaded = kind_of("model_version").load(conn, registered)
        recorded = {
            fields["family"]: fields["impact_assessment_id"] for _, fields in loaded.values()
        }
        assert recorded == {"scorecard": "PIPIA-CN-2026-001", "challenger": "PIPIA-CN-2026-002"}
        champions = read_champions(engine)
        assert [family for family, _ in champions.values()] == ["scorecard"]
        report = compliance_check(engine=engine, period="2026-06")
    finally:
        engine.dispose()
    row = next(r for r in report.rows if r.requirement.id == "privacy.impact_assessment")
    assert row.status != "FAIL" and "=PIPIA-CN-2026-001" in row.in_force


# -- docs/privacy.md ------------------------------------------------------------------------------


def test_the_privacy_page_cites_only_code_and_tests_that_exist() -> None:
    """Every ``module:attr`` and ``test_file.py::test`` the page quotes exists (``::test``
    alone continues the file named last)."""
    import re

    page = (REPO_ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", page, flags=re.DOTALL)  # command examples, not citations
    code = re.compile(r"([a-z_]+(?:\.[a-z_]+)+):([A-Za-z_][\w.]*)")
    test = re.compile(r"(?:tests/)?(test_\w+\.py)?(?:::(\w+))?")
    last_file = None
    cited = 0
    for quoted in re.findall(r"`([^`]+)`", text):
        if match := code.fullmatch(quoted):
            checked = check_code(f"creditgraph.{match.group(1)}:{match.group(2)}")
        elif (match := test.fullmatch(quoted)) and (match.group(1) or match.group(2)):
            last_file = match.group(1) or last_file
            assert last_file is not None, quoted
            ref = f"tests/{last_file}" + (f"::{match.group(2)}" if match.group(2) else "")
            checked = check_test(ref)
        else:
            continue
        cited += 1
        assert checked.status == "ok", f"docs/privacy.md cites {quoted}: {checked.detail}"
    assert cited > 40
