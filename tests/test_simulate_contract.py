"""The simulator writes every contract table, and every row is valid against the contract
(checked by the project's own validator) unless bad rows were asked for."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from creditgraph.contracts.schema import TABLES
from creditgraph.contracts.validate import ROW, compile_query, validate_chunk
from creditgraph.duck import connect
from creditgraph.simulate import SimulationConfig, SimulationResult, report, simulate
from creditgraph.simulate.columns import arrow_schema
from creditgraph.simulate.config import BAD_ROWS_FILE, TRUTH_DIR, TRUTH_FILE

PEOPLE = 1500


def read_raw(path: Path) -> pa.Table:
    """A file as the ingest readers see it: typed Parquet, or CSV as text."""
    if path.suffix == ".parquet":
        return pq.read_table(path)
    names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)).column_names
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True
        ),
    )


def invalid_rows(path: Path, table: str) -> dict[int, list[str]]:
    """Row number (0-based) -> errors, as the contract validator reports them: refused rows
    and rows stored with an invalid optional value nulled."""
    raw = read_raw(path)
    chunk = raw.append_column(ROW, pa.array(range(raw.num_rows), type=pa.int64()))
    query = compile_query(TABLES[table], set(raw.column_names))
    result = validate_chunk(connect("UTC"), query, chunk)
    found = dict(zip(result.invalid_rows.to_pylist(), result.invalid_errors, strict=True))
    found.update(zip(result.noted_rows.to_pylist(), result.noted, strict=True))
    return found


@pytest.fixture(scope="module", params=["parquet", "csv"])
def clean(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SimulationResult:
    out = tmp_path_factory.mktemp(f"clean-{request.param}")
    return simulate(SimulationConfig(people=PEOPLE, seed=7, fmt=request.param), out)


@pytest.fixture(scope="module", params=["parquet", "csv"])
def dirty(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SimulationResult:
    out = tmp_path_factory.mktemp(f"dirty-{request.param}")
    config = SimulationConfig(people=PEOPLE, seed=7, fmt=request.param, with_bad_rows=True)
    return simulate(config, out)


def test_every_table_is_written_with_the_contract_columns(clean: SimulationResult) -> None:
    assert set(clean.files) == set(TABLES)
    for name, path in clean.files.items():
        assert path == clean.out_dir / f"{name}.{path.suffix[1:]}"
        expected = [c.name for c in TABLES[name].all_columns]
        if path.suffix == ".parquet":
            schema = pq.read_schema(path)
            assert schema.names == expected
            assert schema.types == arrow_schema(TABLES[name]).types
        else:
            header = path.read_text(encoding="utf-8").splitlines()[0]
            assert header == ",".join(f'"{c}"' for c in expected)
        assert clean.rows[name] > 0, name
        assert read_raw(path).num_rows == clean.rows[name]


def test_out_dir_holds_only_contract_files_and_the_truth_folder(clean: SimulationResult) -> None:
    names = sorted(p.name for p in clean.out_dir.iterdir())
    fmt = clean.files["persons"].suffix
    assert names == sorted([f"{t}{fmt}" for t in TABLES] + [TRUTH_DIR])
    assert clean.truth_path == clean.out_dir / TRUTH_DIR / TRUTH_FILE
    truth = pq.read_table(clean.truth_path)
    persons = read_raw(clean.files["persons"])
    assert truth.column("person_id").to_pylist() == persons.column("person_id").to_pylist()
    assert {"community_id", "fraud_ring_id", "latent_score", "defaulted"} <= set(truth.column_names)
    assert not (clean.out_dir / TRUTH_DIR / BAD_ROWS_FILE).exists()


def test_all_rows_are_valid_in_normal_mode(clean: SimulationResult) -> None:
    for name, path in clean.files.items():
        bad = invalid_rows(path, name)
        assert not bad, f"{name}: {list(bad.items())[:5]}"
    assert clean.bad_rows == {}


def test_natural_keys_are_unique(clean: SimulationResult) -> None:
    con = duckdb.connect()
    for name, path in clean.files.items():
        con.register("t", read_raw(path))
        key = ", ".join(f'"{c}"' for c in TABLES[name].natural_key)
        dupes = con.execute(
            f"SELECT count(*) FROM (SELECT {key} FROM t GROUP BY ALL HAVING count(*) > 1)"
        ).fetchall()[0]
        con.unregister("t")
        assert dupes == (0,), name


def test_identifiers_and_text_formats(clean: SimulationResult) -> None:
    persons = read_raw(clean.files["persons"]).to_pydict()
    assert all(re.fullmatch(r"P\d{7}", p) for p in persons["person_id"])
    phones = [p for p in persons["phone"] if p]
    assert phones and all(re.fullmatch(r"1[3-9]\d{9}", p) for p in phones)
    devices = read_raw(clean.files["devices"]).column("device_id").to_pylist()
    assert all(re.fullmatch(r"D\d{8}", d) for d in devices)
    if clean.files["persons"].suffix == ".csv":
        stamp = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00"
        assert all(re.fullmatch(stamp, t) for t in persons["registered_at"])
        money = read_raw(clean.files["interactions"]).column("amount").to_pylist()
        assert all(m is None or re.fullmatch(r"\d+\.\d{2}", m) for m in money)
        dates = read_raw(clean.files["activity_daily"]).column("date").to_pylist()
        assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in dates)


def test_sources_and_amounts(clean: SimulationResult) -> None:
    con = duckdb.connect()
    con.register("i", read_raw(clean.files["interactions"]))
    con.register("t", read_raw(clean.files["ties"]))
    sources = {r[0] for r in con.execute("SELECT DISTINCT source FROM t").fetchall()}
    assert sources == {"wechat", "weibo", "douyin", "app"}
    kinds = {r[0] for r in con.execute("SELECT DISTINCT kind FROM i").fetchall()}
    assert kinds == {"message", "call", "like", "comment", "transfer", "red_packet"}
    wrong = con.execute(
        "SELECT count(*) FROM i WHERE (kind IN ('transfer', 'red_packet')) <> (amount IS NOT NULL)"
    ).fetchall()[0]
    assert wrong == (0,)
    emergency = con.execute(
        "SELECT count(DISTINCT src) FROM t WHERE kind = 'emergency_contact'"
    ).fetchall()[0]
    assert emergency is not None and emergency[0] > 0.9 * PEOPLE


def test_bad_rows_only_where_asked_and_each_one_is_caught(dirty: SimulationResult) -> None:
    log = pq.read_table(dirty.out_dir / TRUTH_DIR / BAD_ROWS_FILE).to_pylist()
    assert dirty.bad_rows_path == dirty.out_dir / TRUTH_DIR / BAD_ROWS_FILE
    total = sum(dirty.rows.values())
    assert 0.002 * total < len(log) < 0.01 * total
    defects = {entry["defect"] for entry in log}
    assert {
        "missing_required",
        "bad_enum",
        "rule:self_loop",
        "rule:amount_only_for_transfers",
    } <= defects
    if dirty.files["persons"].suffix == ".csv":
        assert {"unparsable_timestamp", "too_many_decimals"} <= defects
    for name, path in dirty.files.items():
        expected = {e["row"] for e in log if e["table"] == name}
        assert set(invalid_rows(path, name)) == expected, name
        assert dirty.bad_rows[name] == len(expected)


def test_report_reads_files_with_bad_rows(dirty: SimulationResult) -> None:
    metrics = report(dirty.out_dir)
    assert abs(metrics["default_rate"] - 0.08) < 0.02
    assert metrics["people"] == PEOPLE
    assert 0.85 < metrics["consent_coverage_rows"] < 1.0
