"""The log guard finds each kind of personal value, and only those (see tests/log_guard.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditgraph.simulate import config as sim_config
from creditgraph.simulate.world import build_world
from tests.conftest import REPO_ROOT
from tests.log_guard import id_number_checks, personal_values_in


def kinds(text: str) -> list[str]:
    return [f.kind for f in personal_values_in(text)]


def test_each_kind_of_personal_value_is_found() -> None:
    assert kinds("sms to 13812345678 failed") == ["phone"]
    assert kinds("id 11010519491231002X checked") == ["id_number"]
    assert kinds("applicant P0001234 refused") == ["external_id"]
    assert kinds("hello Wang Wei, welcome") == ["name"]


def test_what_is_not_personal_is_not_flagged() -> None:
    # a pseudonym, a timestamp in ms, a digest, money, an id number with a wrong check digit
    text = (
        "person 5f2c1e0a9b7d4c3e8f6a1b2c3d4e5f60 at 1765432109876 sha 0123456789abcdef "
        "amount 138123456.78 fen=138123456780 id 110105194912310021 Model Version"
    )
    assert kinds(text) == []
    assert not id_number_checks("110105194912310021")


@given(st.text(alphabet="abcdef0123456789", min_size=0, max_size=64))
def test_hex_digests_are_never_mistaken_for_phones(digest: str) -> None:
    assert "phone" not in kinds(f"row_hash={digest}x")


def test_a_world_s_own_people_are_all_recognised() -> None:
    """Every name, phone and external id the simulator writes is something the guard finds."""
    world = build_world(sim_config.SimulationConfig(people=300, seed=7))
    people = world.pop
    from creditgraph.simulate.people import _persons_table

    table = _persons_table(world, people.by_id[:300])
    for column, kind in (("person_id", "external_id"), ("name", "name"), ("phone", "phone")):
        values = [v for v in table.column(column).to_pylist() if v]
        assert values
        missed = [v for v in values if kind not in kinds(f"log: {v} done")]
        assert not missed, f"{len(missed)} {column} values not recognised"


def test_a_test_that_logs_a_phone_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard fails the offending test, not the run silently, and names no value."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makeconftest('pytest_plugins = ["tests.log_guard"]')
    pytester.makepyfile(
        """
        import logging

        def test_leaks():
            logging.getLogger("creditgraph.demo").info("called %s", "13812345678")

        def test_clean():
            logging.getLogger("creditgraph.demo").info("called a pseudonym")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--show-capture=no")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*creditgraph.demo*holds personal data (phone)*"])
    assert "13812345678" not in result.stdout.str()
