"""The simulated world as a time-ordered event stream (event contract v1), with its ground truth.

``write_events(world, out_dir, start=..., end=...)`` writes, beside the contract tables:

- ``_events/events.jsonl``: every social and financial event of the window, one JSON object a
  line, ordered by ``occurred_at`` then ``event_id`` (see ``event_rows`` for how table rows
  become events);
- ``_events/servicing_events.jsonl``: servicing's own events for the simulated loan book
  (``source = "servicing"``), so an evaluation can replay the whole picture without running
  servicing (``servicing_events``);
- ``_truth/events_truth.json``: the planted rings, shocks, contagion and activity collapse
  (``event_truth``).

The stream uses the tables' raw identifiers; like the tables, it is pseudonymised at the door
when ingested. It is regenerated from the same random streams as the tables, so it is the same
world, and deterministic by seed. Events carry counts and amounts, never content. Both files go
in folders so that ``<out>/*`` still globs only contract tables.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from creditgraph.simulate import behaviour, loans, social
from creditgraph.simulate import event_rows as rows
from creditgraph.simulate.clock import DAY, add_months, epoch
from creditgraph.simulate.config import SimulationConfig
from creditgraph.simulate.event_truth import write_truth
from creditgraph.simulate.rng import stream
from creditgraph.simulate.servicing_events import servicing_events
from creditgraph.simulate.world import World, build_world

EVENTS_DIR = "_events"
EVENTS_FILE = "events.jsonl"
SERVICING_FILE = "servicing_events.jsonl"
EVENTS_TRUTH_FILE = "events_truth.json"
DEFAULT_EVENT_MONTHS = 3
Check = Callable[[list[dict[str, object]]], None]
VALIDATION_CHUNK = 50_000


@dataclass(frozen=True)
class EventsReport:
    """Where the stream went, what it holds and how long it took."""

    events_path: Path
    servicing_path: Path
    truth_path: Path
    start: datetime
    end: datetime
    counts: dict[str, int] = field(default_factory=dict)  # events per type, both files
    truth: dict[str, int] = field(default_factory=dict)  # planted items per kind
    seconds: float = 0.0

    @property
    def events(self) -> int:
        return sum(self.counts.values())


def event_window(world: World, months: int, end: date | None = None) -> tuple[datetime, datetime]:
    """The last ``months`` calendar months up to the midnight after ``end`` (default: the
    world's last day), as aware UTC datetimes."""
    if months < 1:
        raise ValueError(f"event months must be at least 1 (got {months})")
    last = end if end is not None else world.timeline.end_date
    if last > world.timeline.end_date:
        raise ValueError(
            f"the event window must end by the world's last day {world.timeline.end_date} "
            f"(got {last})"
        )
    stop = last + timedelta(days=1)
    first = add_months(stop, -months)
    return datetime.fromtimestamp(epoch(first), UTC), datetime.fromtimestamp(epoch(stop), UTC)


def write_events_of(
    config: SimulationConfig,
    out_dir: Path,
    months: int,
    end: date | None = None,
    check: Check | None = None,
) -> EventsReport:
    """The world of ``config`` (built again: the same seed gives the same world) as events over
    its last ``months`` months up to ``end``."""
    world = build_world(config)
    start, stop = event_window(world, months, end)
    return write_events(world, out_dir, start=start, end=stop, check=check)


def _seconds(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("event window bounds must be timezone-aware")
    return int(when.timestamp())


def write_events(
    world: World,
    out_dir: Path,
    *,
    start: datetime,
    end: datetime,
    check: Check | None = None,
) -> EventsReport:
    """Write the event stream of ``world`` over ``[start, end)`` and its ground truth.

    ``check`` sees every chunk of events before it is written and raises on a bad one: the
    command passes the event contract's validation (the simulator sits below monitoring, so it
    is handed in), so a simulator bug is an error here, not a surprise at ingest.
    """
    started = time.perf_counter()
    lo, hi = _seconds(start), _seconds(end)
    if hi <= lo:
        raise ValueError("the event window must end after it starts")
    cfg = world.config
    seed, chunk = cfg.seed, cfg.chunk_rows
    out = rows.Stream(lo, hi)
    for ties, _, _ in social.emergency_contacts(world, stream(seed, "emergency"), chunk):
        rows.tie_events(out, ties)
    for ties, inter, _, _ in social.social_chunks(world, stream(seed, "social"), chunk):
        rows.tie_events(out, ties)
        rows.interaction_events(out, inter)
        rows.transfer_events(out, inter)
    device_tables = [t for t, _, _ in behaviour.devices(world, stream(seed, "devices"), chunk)]
    for table in device_tables:
        rows.device_events(out, table)
    for table, _, _ in behaviour.activity(world, stream(seed, "activity"), chunk):
        rows.activity_events(out, table)
    _earlier_activity(world, out)
    lags = stream(seed, "event-inquiries")
    for table, _, _ in loans.external_loans(world, stream(seed, "external"), chunk):
        rows.external_loan_events(out, table, lags)
    pop = world.pop
    person_ids = rows.strings(world.person_ids)
    rows.phone_events(out, person_ids, pop.phone, pop.data_start)
    rows.income_events(
        out, person_ids, _monthly_income(world), pop.data_start, world.timeline.month_starts
    )

    servicing = rows.Stream(lo, hi)
    servicing_events(
        servicing,
        world.book,
        person_ids,
        stream(seed, "servicing-events"),
        world.timeline.world_end,
    )

    directory = Path(out_dir) / EVENTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    events_path = directory / EVENTS_FILE
    servicing_path = directory / SERVICING_FILE
    _write(events_path, out.ordered(), check)
    _write(servicing_path, servicing.ordered(), check)
    truth_path = Path(out_dir) / "_truth" / EVENTS_TRUTH_FILE
    devices = pa.concat_tables(device_tables) if device_tables else None
    truth = write_truth(world, devices, lo, hi, truth_path) if devices is not None else {}
    counts = dict(sorted({**out.counts(), **servicing.counts()}.items()))
    return EventsReport(
        events_path=events_path,
        servicing_path=servicing_path,
        truth_path=truth_path,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        counts=counts,
        truth=truth,
        seconds=time.perf_counter() - started,
    )


def _earlier_activity(world: World, out: rows.Stream) -> None:
    """Activity of window days before those ``activity_daily`` keeps, drawn by the same model
    from a stream of its own; days the table holds before an application keep the table's rows."""
    cfg = world.config
    kept_from = world.timeline.world_end // DAY - cfg.activity_days
    first = max(out.start, world.timeline.history_start) // DAY
    stop = min(out.end // DAY + 1, kept_from)
    if stop <= first:
        return
    rng = stream(cfg.seed, "event-activity")
    days = cfg.application_activity_days
    applied = world.pop.applied_at
    for table in behaviour.activity_span(world, rng, first, stop - first, cfg.chunk_rows):
        if days > 0:
            index = np.asarray(world.pop.id_number, dtype=np.int64)
            number = np.array([int(p[1:]) for p in rows.strings(table["person_id"])], np.int64)
            person = np.empty(len(index) + 1, np.int64)
            person[index] = np.arange(len(index))
            when = applied[person[number]] // DAY
            day = np.asarray(pc.cast(table["date"], pa.int32()).to_numpy(), dtype=np.int64)
            held = (applied[person[number]] >= 0) & (day >= when - days) & (day < when)
            table = table.filter(pa.array(~held))
        rows.activity_events(out, table)


def _monthly_income(world: World) -> NDArray[np.float64]:
    """Income per person and month: the declared level with month-to-month noise, shocks
    applied at the middle of the month."""
    pop, tl = world.pop, world.timeline
    months = tl.n_months
    rng = stream(world.config.seed, "event-income")
    noise = rng.lognormal(0.0, 0.08, (pop.n, months))
    middle = (tl.month_starts[:-1] + tl.month_starts[1:]) // 2
    people = np.arange(pop.n)[:, None]
    left = world.distress.income_factor(people, middle[None, :])
    income = np.maximum(pop.income_fen, 0)[:, None] * noise * left
    return np.asarray(np.round(income), dtype=np.float64)


def _write(path: Path, events: Iterable[dict[str, object]], check: Check | None) -> None:
    """One JSON object a line; each chunk goes through ``check`` before it is written."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        chunk: list[dict[str, object]] = []
        for event in events:
            chunk.append(event)
            if len(chunk) >= VALIDATION_CHUNK:
                _flush(fh, chunk, check)
                chunk = []
        _flush(fh, chunk, check)
    tmp.replace(path)


def _flush(fh: TextIO, chunk: list[dict[str, object]], check: Check | None) -> None:
    if not chunk:
        return
    if check is not None:
        check(chunk)
    fh.write(
        "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in chunk)
    )
