"""Runs a simulation end to end: build the world, stream every contract table to disk, write the
ground truth beside them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from creditgraph.contracts.schema import TABLES
from creditgraph.simulate import behaviour, consents, loans, people, social
from creditgraph.simulate.config import (
    BAD_ROWS_FILE,
    FORMATS,
    TRUTH_DIR,
    TRUTH_FILE,
    SimulationConfig,
    SimulationResult,
)
from creditgraph.simulate.corrupt import Corruptor
from creditgraph.simulate.events import (
    EVENTS_DIR,
    EVENTS_FILE,
    EVENTS_TRUTH_FILE,
    SERVICING_FILE,
)
from creditgraph.simulate.rng import stream
from creditgraph.simulate.world import Chunk, Progress, World, build_world
from creditgraph.simulate.writer import TableWriter


def _clear_outputs(out_dir: Path) -> None:
    """Remove earlier outputs of ours (either format), so ``<out>/*`` never mixes two runs."""
    for name in TABLES:
        for fmt in FORMATS:
            (out_dir / f"{name}.{fmt}").unlink(missing_ok=True)
    for fname in (TRUTH_FILE, BAD_ROWS_FILE, EVENTS_TRUTH_FILE):
        (out_dir / TRUTH_DIR / fname).unlink(missing_ok=True)
    for fname in (EVENTS_FILE, SERVICING_FILE):
        (out_dir / EVENTS_DIR / fname).unlink(missing_ok=True)


def _stages(world: World) -> Iterator[tuple[str, str, Iterator[Chunk]]]:
    """(progress stage, table, chunks) in the order tables are written."""
    cfg = world.config
    seed, chunk = cfg.seed, cfg.chunk_rows
    yield "persons", "persons", people.persons(world, chunk)
    yield "consents", "consents", consents.consents(world, stream(seed, "consents"), chunk)
    yield (
        "emergency_contacts",
        "ties",
        social.emergency_contacts(world, stream(seed, "emergency"), chunk),
    )
    yield "devices", "devices", behaviour.devices(world, stream(seed, "devices"), chunk)
    yield (
        "activity_daily",
        "activity_daily",
        behaviour.activity(world, stream(seed, "activity"), chunk),
    )
    yield (
        "external_loans",
        "external_loans",
        loans.external_loans(world, stream(seed, "external"), chunk),
    )
    yield (
        "loan_outcomes",
        "loan_outcomes",
        loans.loan_outcomes(world, chunk),
    )


def simulate(
    config: SimulationConfig, out_dir: Path, progress: Progress | None = None
) -> SimulationResult:
    """Simulate ``config`` into ``out_dir``: one ``<table>.<fmt>`` per contract table, plus the
    ground truth in ``<out_dir>/_truth/ground_truth.parquet`` (and, with bad rows, where each bad
    row is in ``<out_dir>/_truth/bad_rows.parquet``)."""
    started = time.perf_counter()
    note: Progress = progress or (lambda stage, done, total: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_outputs(out_dir)
    world = build_world(config, note)
    corruptor = (
        Corruptor(config.bad_row_share, stream(config.seed, "bad-rows"))
        if config.with_bad_rows
        else None
    )

    with ExitStack() as stack:
        writers = {
            name: stack.enter_context(TableWriter(spec, out_dir, config.fmt))
            for name, spec in TABLES.items()
        }

        def put(name: str, table: pa.Table) -> None:
            writers[name].write(table)
            if corruptor is not None:
                corruptor.write(writers[name], table)

        for stage, name, chunks in _stages(world):
            note(stage, 0, 1)
            for table, done, total in chunks:
                put(name, table)
                note(stage, done, total)
            if name == "ties":
                note("ties+interactions", 0, 1)
                for ties, inter, done, total in social.social_chunks(
                    world, stream(config.seed, "social"), config.chunk_rows
                ):
                    put("ties", ties)
                    put("interactions", inter)
                    note("ties+interactions", done, total)
        rows = {name: w.rows for name, w in writers.items()}
        files = {name: w.path for name, w in writers.items()}

    note("truth", 0, 1)
    truth_path = out_dir / TRUTH_DIR / TRUTH_FILE
    people.write_truth(world, truth_path)
    bad_rows: dict[str, int] = {}
    bad_path = None
    if corruptor is not None:
        log = corruptor.log.to_arrow()
        bad_path = out_dir / TRUTH_DIR / BAD_ROWS_FILE
        pq.write_table(log, bad_path, compression="zstd")
        for name in TABLES:
            bad_rows[name] = sum(1 for t in corruptor.log.table if t == name)
    note("truth", 1, 1)
    return SimulationResult(
        out_dir=out_dir,
        files=files,
        rows=rows,
        truth_path=truth_path,
        seconds=time.perf_counter() - started,
        bad_rows=bad_rows,
        bad_rows_path=bad_path,
    )
