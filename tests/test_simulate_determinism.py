"""Same seed, same bytes; another seed, another world."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from creditgraph.simulate import SimulationConfig, simulate


def digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_gives_identical_files(tmp_path: Path, fmt: str) -> None:
    config = SimulationConfig(people=800, seed=11, fmt=fmt, with_bad_rows=True)  # type: ignore[arg-type]
    first = simulate(config, tmp_path / "a")
    second = simulate(config, tmp_path / "b")
    assert first.rows == second.rows
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert len(digests(tmp_path / "a")) == 10  # 8 tables, ground truth, bad-row list


def test_different_seed_gives_different_world(tmp_path: Path) -> None:
    a = simulate(SimulationConfig(people=800, seed=1), tmp_path / "a")
    b = simulate(SimulationConfig(people=800, seed=2), tmp_path / "b")
    for table in ("persons", "ties", "interactions", "loan_outcomes"):
        assert not pq.read_table(a.files[table]).equals(pq.read_table(b.files[table])), table


def test_rerun_into_same_directory_replaces_the_other_format(tmp_path: Path) -> None:
    simulate(SimulationConfig(people=300, seed=1, fmt="csv"), tmp_path)
    result = simulate(SimulationConfig(people=300, seed=1, fmt="parquet"), tmp_path)
    assert not list(tmp_path.glob("*.csv"))
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == sorted(
        p.name for p in result.files.values()
    )
