"""A refused row read from Parquet with a typed money column is quarantined with the amount
redacted, instead of failing the ingest (the simulator writes amounts as decimals)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from creditgraph.ingest.service import ingest
from creditgraph.settings import Settings
from tests import world


def test_a_refused_money_interaction_from_parquet_is_quarantined_with_its_amount_redacted(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    files = [f for f in world.write_world(tmp_path) if f.stem != "interactions"]
    interactions = tmp_path / "interactions.parquet"
    pq.write_table(
        pa.table(
            {
                "src": ["P1", "P3"],
                "dst": ["P2", "P1"],
                "kind": ["transfer", "transfer"],  # P3 has no credit consent: refused
                "ts": pa.array([1740900000, 1740900000], pa.timestamp("s", tz="UTC")),
                "count": [1, 1],
                "amount": pa.array([Decimal("200.00"), Decimal("88.00")], pa.decimal128(18, 2)),
            }
        ),
        interactions,
    )
    report = ingest(sorted([*files, interactions]), sqlite_settings)

    [fed] = [f for f in report.files if f.table == "interactions"]
    assert (fed.accepted, fed.quarantined) == (1, 1)
    assert fed.quarantine_file is not None
    [line] = [json.loads(x) for x in fed.quarantine_file.read_text().splitlines()]
    assert line["record"]["amount"] == "[redacted]"
    assert "88" not in fed.quarantine_file.read_text()
