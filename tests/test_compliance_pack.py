"""The compliance pack and its check: the pack is validated with errors naming the field; the
packaged configuration passes; a configuration looser than the pack FAILs (and the CLI exits 1);
every code and test the report cites exists; model versions carry their PIPIA id."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from creditgraph import configfile
from creditgraph.cli.main import app
from creditgraph.compliance import references
from creditgraph.compliance.check import report_json, run_check
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

    good = {"scorecard-1": ("scorecard", "PIPIA-CN-2026-001")}
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
