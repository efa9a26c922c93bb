"""A small population meets the calibration targets the scoring side relies on."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from creditgraph.simulate import SimulationConfig, report, simulate
from creditgraph.simulate.clock import add_months


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    out = tmp_path_factory.mktemp("calibration")
    result = simulate(SimulationConfig(people=5000, seed=2024), out)
    measured = report(out)
    assert measured["rows.persons"] == result.rows["persons"] == 5000
    return measured


def test_graph_shape(metrics: dict[str, float]) -> None:
    assert 5 <= metrics["degree_mean"] <= 12
    assert metrics["degree_max"] <= 300
    assert 0.12 <= metrics["clustering_global"] <= 0.19
    assert metrics["giant_component_share"] > 0.95


def test_default_rate_homophily_and_fraud(metrics: dict[str, float]) -> None:
    assert abs(metrics["default_rate"] - 0.08) < 0.005
    assert metrics["homophily_ratio"] > 1.5
    assert metrics["homophily_ratio_all_ties"] >= metrics["homophily_ratio"]
    assert 0.005 <= metrics["fraud_ring_share"] <= 0.01
    assert metrics["shared_device_people_share"] > 0.02


def test_consent_gate_has_a_little_work(metrics: dict[str, float]) -> None:
    assert 0.90 <= metrics["consent_coverage_rows"] <= 0.99
    assert metrics["consent_coverage_people"] > 0.95


def test_default_rate_is_configurable(tmp_path: Path) -> None:
    simulate(SimulationConfig(people=3000, seed=5, default_rate=0.15, fmt="csv"), tmp_path)
    assert abs(report(tmp_path)["default_rate"] - 0.15) < 0.005


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"people": 10}, "people"),
        ({"default_rate": 0.9}, "default_rate"),
        ({"fmt": "xlsx"}, "fmt"),
        ({"activity_days": 0}, "activity_days"),
    ],
)
def test_config_is_validated(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"people": 1000, "seed": 1}
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**(base | kwargs))  # type: ignore[arg-type]


def test_calendar_months() -> None:
    assert add_months(date(2026, 7, 1), -12) == date(2025, 7, 1)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_months(date(2025, 12, 15), 1) == date(2026, 1, 15)


def test_vocabulary_shapes() -> None:
    from creditgraph.contracts.schema import REGION_TIERS, SEGMENTS
    from creditgraph.simulate import vocab

    assert len(vocab.REGION_SHARES) == len(REGION_TIERS)
    assert abs(sum(vocab.REGION_SHARES) - 1) < 1e-9
    assert len(vocab.SEGMENT_BY_REGION) == len(REGION_TIERS)
    for row in vocab.SEGMENT_BY_REGION:
        assert len(row) == len(SEGMENTS) and abs(sum(row) - 1) < 1e-9
    for table in (vocab.INCOME_MEDIAN, vocab.INCOME_SIGMA, vocab.AGE, vocab.SEGMENT_CREDIT):
        assert len(table) == len(SEGMENTS)
    assert set(vocab.OCCUPATIONS) == set(SEGMENTS)


def test_population_looks_like_the_target_market(tmp_path: Path) -> None:
    import duckdb

    simulate(SimulationConfig(people=5000, seed=9), tmp_path)
    con = duckdb.connect()
    persons = str(tmp_path / "persons.parquet")
    shares = dict(
        con.execute(
            f"SELECT segment, count(*) / 5000 FROM read_parquet('{persons}') GROUP BY ALL"
        ).fetchall()
    )
    assert 0.18 < shares["individual_business"] < 0.3 and 0.05 < shares["farmer"] < 0.15
    median = dict(
        con.execute(
            f"SELECT segment, median(declared_monthly_income) FROM read_parquet('{persons}') "
            "GROUP BY ALL"
        ).fetchall()
    )
    assert median["student"] < median["farmer"] < median["salaried"]
    ages = con.execute(
        f"SELECT count(*) FILTER (WHERE 2026 - birth_year < 18), "
        f"count(*) FILTER (WHERE 2026 - birth_year BETWEEN 18 AND 66) FROM read_parquet('{persons}')"
    ).fetchall()[0]
    assert 0 < ages[0] < 50 and ages[1] > 0.95 * 5000
