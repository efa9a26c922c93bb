"""Point-in-time features: correct as of a date, no leakage, defined edge cases, a working store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from creditgraph.features.labels import FOLDS, fold_of, stable_fold
from creditgraph.features.service import build_and_store, compute_features
from creditgraph.features.store import get_online
from creditgraph.ingest.service import ingest
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from tests import world
from tests.identities import pseudonyms

AS_OF = date(2025, 4, 1)
LABEL_FEATURES = (
    "default_exposure",
    "good_exposure",
    "default_exposure_ratio",
    "defaulted_contacts",
    "defaulted_share_1hop",
    "defaulted_share_2hop",
    "community_default_rate",
    "device_defaulters",
    "multilayer_exposure",
)


def _settings(root: Path, key: bytes = b"k" * 32) -> Settings:
    settings = Settings(home=root / "home")
    settings.key_file.parent.mkdir(parents=True)
    settings.key_file.write_text(key.hex() + "\n")
    settings.key_file.chmod(0o600)
    return settings


def _ids(settings: Settings) -> dict[str, str]:
    return pseudonyms(settings.database_url)


def _rows(table: pa.Table) -> dict[str, dict[str, object]]:
    return {r["person_id"]: r for r in table.to_pylist()}


def _later_events(directory: Path) -> list[Path]:
    """Events that all happen on or after AS_OF: none may change features as of AS_OF."""
    directory.mkdir()
    return [
        world.write_csv(
            directory / "ties.csv",
            world.TIE_COLUMNS,
            [
                ["P1", "P4", "family", "wechat", "2025-04-01", ""],
                ["P2", "P1", "friend", "wechat", "2025-04-02", ""],
            ],
        ),
        world.write_csv(
            directory / "interactions.csv",
            world.INTERACTION_COLUMNS,
            [
                ["P1", "P2", "call", "2025-04-01 00:00", "50", ""],
                ["P1", "P2", "transfer", "2025-05-01 00:00", "1", "99999"],
            ],
        ),
        world.write_csv(
            directory / "activity_daily.csv",
            world.ACTIVITY_COLUMNS,
            [
                ["P1", "2025-04-01", "600", "9", "9", "wechat"],
            ],
        ),
        world.write_csv(
            directory / "devices.csv",
            world.DEVICE_COLUMNS,
            [
                ["P1", "DEV-Z", "2025-04-01", "2025-05-01", "wechat"],
            ],
        ),
        world.write_csv(
            directory / "external_loans.csv",
            world.EXTERNAL_LOAN_COLUMNS,
            [
                ["P1", "lender-a", "2024-05-01", "5000", "written_off", "200", "2025-04-01"],
            ],
        ),
        world.write_csv(
            directory / "loan_outcomes.csv",
            world.OUTCOME_COLUMNS,
            [
                ["L9", "P1", "2024-03-01", "1000", "12", "true", "2025-04-01"],
            ],
        ),
    ]


def test_events_at_or_after_the_as_of_date_change_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ingest(world.write_world(tmp_path / "in"), settings)
    before = _rows(compute_features(settings, AS_OF).features)
    report = ingest(_later_events(tmp_path / "later"), settings)
    assert sum(c["accepted"] for c in report.by_table().values()) == 8
    after = _rows(compute_features(settings, AS_OF).features)
    assert after == before
    moved = _rows(compute_features(settings, date(2025, 6, 1)).features)
    assert moved != before  # the later events do count once they are in the past


def test_outcomes_count_only_once_observed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ingest(world.write_world(tmp_path / "in"), settings)
    # L2 (P2 defaulted) was observed on 2025-02-10; L1 (P1 repaid) on 2025-01-10
    early = compute_features(settings, date(2025, 1, 5)).features
    for name in LABEL_FEATURES:
        assert pc.sum(early[name]).as_py() == 0, name


def test_own_outcome_never_reaches_own_features(tmp_path: Path) -> None:
    with_label = _settings(tmp_path / "a")
    ingest(world.write_world(tmp_path / "in"), with_label)
    without = _settings(tmp_path / "b")
    files = world.write_world(tmp_path / "in2")
    outcomes = [r for r in world.OUTCOMES if r[1] != "P2"]
    world.write_csv(tmp_path / "in2" / "loan_outcomes.csv", world.OUTCOME_COLUMNS, outcomes)
    ingest(files, without)
    p2 = _ids(with_label)["P2"]
    a = _rows(compute_features(with_label, AS_OF).features)[p2]
    b = _rows(compute_features(without, AS_OF).features)[p2]
    assert a == b  # P2's own default changes nothing of P2's features


def test_label_features_are_out_of_fold(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ingest(world.write_world(tmp_path / "in"), settings)
    ids = _ids(settings)
    features = _rows(compute_features(settings, AS_OF).features)
    p1, p2 = ids["P1"], ids["P2"]
    folds = {p1: stable_fold("P1"), p2: stable_fold("P2")}  # from the lender's own ids
    expected = 1 if folds[p1] != folds[p2] else 0  # P2 defaulted and is P1's contact
    assert features[p1]["defaulted_contacts"] == expected
    assert min(fold_of(list(features))) >= 0 and max(fold_of(list(features))) < FOLDS


def test_edge_cases_contacts_duplicates_and_empty_graph(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    files = world.write_world(tmp_path / "in")
    ties = [*world.TIES, ["P1", "P2", "colleague", "wechat", "2025-02-03", ""]]  # a second kind
    world.write_csv(tmp_path / "in" / "ties.csv", world.TIE_COLUMNS, ties)
    ingest(files, settings)
    ids = _ids(settings)
    build = compute_features(settings, AS_OF)
    pairs = {(r["a"], r["b"]) for r in build.edges.to_pylist()}
    assert len(pairs) == build.edges.num_rows  # duplicates merged into one pair
    features = _rows(build.features)
    assert set(features) == set(ids.values())  # contacts outside the book get no row
    assert features[ids["P1"]]["graph_degree"] == 2  # P2 and the outside contact
    assert features[ids["P1"]]["degree"] == 2

    empty = _settings(tmp_path / "empty")
    persons = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, world.PERSONS)
    ingest([persons], empty)
    nothing = compute_features(empty, AS_OF)
    assert nothing.edges.num_rows == 0
    assert nothing.features.num_rows == 4
    assert all(
        v in (0, 0.0, None)
        for r in nothing.features.to_pylist()
        for k, v in r.items()
        if k in LABEL_FEATURES or k in ("graph_degree", "pagerank_raw")
    )


def test_store_writes_snapshot_and_online_row(tmp_path: Path, settings: Settings) -> None:
    ingest(world.write_world(tmp_path / "in"), settings)
    result = build_and_store(settings, AS_OF)
    assert result.snapshot is not None and result.snapshot.path.exists()
    assert result.online_rows == 4
    engine = make_engine(settings.database_url)
    p1 = _ids(settings)["P1"]
    record = get_online(engine, p1)
    engine.dispose()
    assert record is not None
    assert record["as_of"] == AS_OF.isoformat()
    assert record["features"]["income_monthly_fen"] == 800050
    older = build_and_store(settings, date(2025, 3, 1))
    assert older.online_rows == 0  # never overwrite newer features with older ones


def test_every_built_column_is_in_the_catalogue(tmp_path: Path) -> None:
    from creditgraph.features.catalogue import all_features

    settings = _settings(tmp_path)
    ingest(world.write_world(tmp_path / "in"), settings)
    columns = compute_features(settings, AS_OF).features.column_names
    built = [c for c in columns if c not in ("person_id", "as_of")]
    assert len(built) == len(set(built))
    assert set(built) == {f.name for f in all_features()}


def test_training_set_is_point_in_time(tmp_path: Path) -> None:
    from creditgraph.features.service import training_set

    settings = _settings(tmp_path)
    files = world.write_world(tmp_path / "in")
    outcomes = [
        *world.OUTCOMES,  # applied before these people registered: no features, not in the set
        ["L3", "P1", "2025-03-15 10:00", "2000", "6", "false", "2026-03-15"],
        ["L4", "P2", "2025-04-20 10:00", "2000", "6", "true", "2026-04-20"],
    ]
    world.write_csv(tmp_path / "in" / "loan_outcomes.csv", world.OUTCOME_COLUMNS, outcomes)
    ingest(files, settings)
    ids = _ids(settings)
    table = training_set(settings, "day")
    rows = {r["loan_id"]: r for r in table.to_pylist()}
    assert set(rows) == {"L3", "L4"}
    assert rows["L3"]["as_of"] == date(2025, 3, 15) and rows["L3"]["label_defaulted"] is False
    assert rows["L4"]["as_of"] == date(2025, 4, 20) and rows["L4"]["label_defaulted"] is True
    direct = _rows(compute_features(settings, date(2025, 4, 20)).features)[ids["P2"]]
    for name, value in direct.items():
        if name != "as_of":
            assert rows["L4"][name] == value, name
    monthly = training_set(settings, "month")
    assert {r["as_of"] for r in monthly.to_pylist()} == {date(2025, 3, 1), date(2025, 4, 1)}


def test_an_erased_person_leaves_the_graph_and_is_refused_at_the_door(tmp_path: Path) -> None:
    from creditgraph.privacy.erasure import erase

    settings = _settings(tmp_path)
    files = world.write_world(tmp_path / "in")
    ingest(files, settings)
    ids = _ids(settings)
    before = _rows(compute_features(settings, AS_OF).features)
    assert before[ids["P1"]]["graph_degree"] == 2
    engine = make_engine(settings.database_url)
    report = erase(engine, ids["P2"], "DSR-1")
    assert report.rows_deleted["persons"] == 1 and report.rows_deleted["person_identities"] == 1
    assert erase(engine, ids["P2"]).already_erased
    engine.dispose()
    after = _rows(compute_features(settings, AS_OF).features)
    assert ids["P2"] not in after
    assert after[ids["P1"]]["graph_degree"] == 1  # only the outside contact is left
    assert after[ids["P1"]]["interactions_90d"] == 0  # P1's interactions were all with P2
    again = ingest(files, settings)
    assert again.reasons()["erased_person"] > 0
    assert ids["P2"] not in _ids(settings).values()


def test_a_build_out_of_memory_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from creditgraph.cli.main import app
    from creditgraph.settings import get_settings

    settings = _settings(tmp_path)
    ingest(world.write_world(tmp_path / "in"), settings)
    monkeypatch.setenv("CREDITGRAPH_HOME", str(settings.home_dir))
    monkeypatch.setenv("CREDITGRAPH_DUCKDB_MEMORY_LIMIT", "1KB")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["features", "build", "--as-of", "2025-04-01"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "ran out of memory" in result.output and "Traceback" not in result.output
