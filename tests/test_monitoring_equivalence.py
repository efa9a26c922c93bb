"""Replaying the simulated event stream gives what ``features build`` computes from the tables.

One small simulated world is written twice: as contract tables, ingested the usual way and built
as of ``AS_OF``; and as its event stream, validated by the contract, pseudonymised at the door
and folded into the monitor's pieces: ``StateStore`` (rolling aggregates), ``TieLedger`` (each
pair weighed by the build's formula) and one ``DynamicPPR`` per label fold (exposure to known
defaulters, as the build computes it out of fold).

The build's windows end at midnight before the as-of day (its instant ``t``), so the stream is
folded up to ``t`` and every state's clock is moved to the day before. The business time zone is
UTC here: the state's windows are UTC calendar days, and only then do they end where the build's
instant windows end. Consents are made complete so that the consent gate keeps every row and
both sides see the same data (the gates have tests of their own).

Compared, person by person:

- ``interactions_7d``, ``interactions_30d``, ``interactions_90d`` with the state's interaction
  counts over 7/30/90 days, exactly (an interaction counts for both parties, as in the build and
  the monitor);
- ``transfer_in_fen_90d`` with the state's money in over 90 days less the income summaries in it
  (the tables hold no income), exactly;
- ``active_days_90d`` with the state's active days over 90 days, exactly, once the build's rows
  per source are counted (the build counts a day active on two sources twice; the state once);
- ``graph_degree`` and ``tie_strength_sum`` with the ledger's pairs and strengths, to 1e-9;
- ``default_exposure`` (a probability times the build's node count) with the maintained vector:
  the graph of the events before ``PUSH_FROM`` (13 days earlier) refreshed exactly on the
  build's seeds, then every pair the last 13 days' tie and interaction events touched re-weighed
  by local push; within 1e-6 as a probability. Pairs are weighed at ``t`` throughout: interactions
  decay between events, which the monitor folds in by its daily exact refresh, not by push.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from creditgraph.contracts.schema import PURPOSES, Namespace
from creditgraph.features.asof import as_of_epoch
from creditgraph.features.labels import FOLDS, stable_fold
from creditgraph.features.service import compute_features
from creditgraph.graph.dynamic_ppr import DynamicPPR
from creditgraph.ingest.service import ingest
from creditgraph.monitoring.door import Door
from creditgraph.monitoring.events import Event
from creditgraph.monitoring.state import Metric, StateStore, epoch_day, event_day
from creditgraph.monitoring.ties import TieLedger
from creditgraph.monitoring.validate import validate_batch
from creditgraph.settings import Settings
from creditgraph.simulate import SimulationConfig, simulate
from creditgraph.simulate.events import EVENTS_DIR, EVENTS_FILE, SERVICING_FILE, write_events
from creditgraph.simulate.vocab import SOURCES
from creditgraph.simulate.world import build_world

AS_OF = date(2026, 6, 15)
PUSH_FROM = AS_OF - timedelta(days=13)  # after the month's interactions of June 1
CONFIG = SimulationConfig(
    people=400, seed=11, months=2, cohort_months=6, activity_days=120, default_rate=0.15
)
TOLERANCE = 1e-6
PUSH_EPS = 1e-9  # the monitor's threshold; the certificate below stays under the tolerance


def _settings(root: Path) -> Settings:
    settings = Settings(home=root / "home", timezone="UTC")
    settings.key_file.parent.mkdir(parents=True)
    settings.key_file.write_text((b"e" * 32).hex() + "\n")
    settings.key_file.chmod(0o600)
    return settings


def _complete_consents(out: Path) -> None:
    """Every person consents to every purpose on every source from 2000 on."""
    persons = pq.read_table(out / "persons.parquet", columns=["person_id"])["person_id"]
    people = persons.to_pylist()
    rows = [(p, s, u) for p in people for s in SOURCES for u in PURPOSES]
    old = pq.read_table(out / "consents.parquet")
    granted = datetime(2000, 1, 1, tzinfo=UTC)
    table = pa.table(
        {
            "person_id": [r[0] for r in rows],
            "source": [r[1] for r in rows],
            "purpose": [r[2] for r in rows],
            "granted_at": pa.array([granted] * len(rows), old.schema.field("granted_at").type),
            "expires_at": pa.nulls(len(rows), old.schema.field("expires_at").type),
            "revoked_at": pa.nulls(len(rows), old.schema.field("revoked_at").type),
            # the first text, in force from 2000 on; only its credit-assessment text asks for
            # sensitive information separately
            "sensitive": [r[2] == "credit_assessment" for r in rows],
            "text_version": ["2022.1"] * len(rows),
        }
    )
    pq.write_table(table.select(old.column_names).cast(old.schema), out / "consents.parquet")


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("equivalence")
    out = root / "world"
    simulate(CONFIG, out)
    _complete_consents(out)
    t = as_of_epoch(AS_OF, "UTC")
    world = build_world(CONFIG)
    report = write_events(
        world,
        out,
        start=datetime(2000, 1, 1, tzinfo=UTC),
        end=datetime.fromtimestamp(t, UTC),
    )
    settings = _settings(root)
    ingest(sorted(out.glob("*.parquet")), settings)
    build = compute_features(settings, AS_OF)

    raw = _read(out / EVENTS_DIR / EVENTS_FILE) + _read(out / EVENTS_DIR / SERVICING_FILE)
    checked = validate_batch(raw, datetime.now(UTC))
    assert checked.ok, checked.errors[:3]
    door = Door.from_settings(settings)
    events = door.pseudonymise_all(checked.events)
    events.sort(key=lambda e: (e.occurred_at, e.event_id))
    folds = {
        door.identifier(Namespace.PERSON, p): stable_fold(p)
        for p in pq.read_table(out / "persons.parquet")["person_id"].to_pylist()
    }
    return {
        "t": t,
        "build": build,
        "events": events,
        "folds": folds,
        "report": report,
        "features": {r["person_id"]: r for r in build.features.to_pylist()},
    }


def _fold_state(events: list[Event], t: int) -> StateStore:
    states = StateStore()
    for event in events:
        if event.occurred_at.timestamp() >= t:
            break
        states.apply(event)
        count = int(event.get("count", 0))  # type: ignore[call-overload]
        if event.type == "interaction_batch":  # counted for both parties, as the build does
            states.get(str(event.get("other_person_id"))).add(
                Metric.INTERACTIONS, event_day(event), count
            )
    yesterday = epoch_day(datetime.fromtimestamp(t - 1, UTC))
    for state in states.people.values():
        state.advance_to(yesterday)
    return states


def _fold_ties(ledger: TieLedger, events: list[Event], lo: float, hi: float) -> None:
    for event in events:
        at = event.occurred_at.timestamp()
        if at < lo:
            continue
        if at >= hi:
            break
        other = str(event.get("other_person_id"))
        if event.type == "tie_added":
            ledger.tie_added(event.person_id, other, str(event.get("kind")), event.occurred_at)
        elif event.type == "tie_ended":
            ledger.tie_ended(event.person_id, other, str(event.get("kind")))
        elif event.type == "interaction_batch":
            start = event.get("period_start")
            assert isinstance(start, datetime)
            ledger.interaction(event.person_id, other, int(event.get("count")), start)  # type: ignore[call-overload]


def _strengths(ledger: TieLedger, at: float) -> dict[tuple[str, str], float]:
    out = {}
    for key, pair in ledger.pairs.items():
        weight = ledger.pair_strength(pair, at)
        if weight > 0:
            out[key] = weight
    return out


def test_the_stream_reaches_the_features(replay: dict[str, Any]) -> None:
    counts = replay["report"].counts
    for kind in ("tie_added", "interaction_batch", "activity_day", "transfer_summary"):
        assert counts.get(kind, 0) > 100, kind
    assert counts.get("loan_written_off", 0) >= 5
    assert len(replay["features"]) >= 300


def test_rolling_aggregates_equal_the_build(replay: dict[str, Any]) -> None:
    t, events, features = replay["t"], replay["events"], replay["features"]
    states = _fold_state(events, t)
    income: dict[str, int] = defaultdict(int)
    rows_per_day: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    first_day = datetime.fromtimestamp(t, UTC).date() - timedelta(days=90)
    for event in events:
        if event.occurred_at.timestamp() >= t:
            break
        day = datetime.fromtimestamp(event_day(event) * 86_400, UTC).date()
        if day < first_day:
            continue
        if event.type == "income_summary":
            income[event.person_id] += int(event.get("amount"))  # type: ignore[call-overload]
        elif event.type == "activity_day" and int(event.get("active_minutes")) > 0:  # type: ignore[call-overload]
            rows_per_day[event.person_id][day] += 1
    compared = busy = 0
    for person, row in features.items():
        state = states.get(person)
        got = {
            "interactions_7d": state.count(Metric.INTERACTIONS, 7),
            "interactions_30d": state.count(Metric.INTERACTIONS, 30),
            "interactions_90d": state.count(Metric.INTERACTIONS, 90),
            "transfer_in_fen_90d": state.count(Metric.TRANSFERS_IN_FEN, 90) - income[person],
            "active_days_90d": state.count(Metric.ACTIVE_DAYS, 90)
            + sum(n - 1 for n in rows_per_day[person].values()),
        }
        want = {name: int(row[name]) for name in got}
        assert got == want, person
        compared += 1
        busy += want["interactions_90d"] > 0 and want["active_days_90d"] > 0
    assert compared == len(features) and busy >= 100


def test_exposure_by_local_push_equals_the_build(replay: dict[str, Any]) -> None:
    t, events, features, folds = replay["t"], replay["events"], replay["features"], replay["folds"]
    build = replay["build"]
    t0 = as_of_epoch(PUSH_FROM, "UTC")
    ledger = TieLedger()
    _fold_ties(ledger, events, float("-inf"), t0)
    before = _strengths(ledger, t)  # the graph of T0 weighed at t: decay is the daily refresh's
    defaulters = sorted(
        {
            e.person_id
            for e in events
            if e.type == "loan_written_off" and e.occurred_at.timestamp() < t
        }
    )
    assert len(defaulters) >= 5
    names = sorted({p for pair in before for p in pair} | set(defaulters))
    position = {name: i for i, name in enumerate(names)}
    a = [position[x] for x, _ in before]
    b = [position[y] for _, y in before]
    exposures = [
        DynamicPPR.from_edges(
            len(names),
            a,
            b,
            list(before.values()),
            [position[d] for d in defaulters if folds[d] != k],
            eps=PUSH_EPS,
        )
        for k in range(FOLDS)
    ]
    starts = [exposure.scores() for exposure in exposures]
    _fold_ties(ledger, events, t0, t)
    after = _strengths(ledger, t)
    changed = 0
    for (x, y), weight in sorted(after.items()):
        for name in (x, y):
            if name not in position:
                position[name] = len(position)
        if before.get((x, y)) != weight:
            changed += 1
            for exposure in exposures:
                exposure.set_tie(position[x], position[y], weight)
    for x, y in set(before) - set(after):
        changed += 1
        for exposure in exposures:
            exposure.remove_tie(position[x], position[y])
    assert changed >= 5
    moved = max(
        float(np.abs(e.p[: len(start)] - start).max())
        for e, start in zip(exposures, starts, strict=True)
    )

    degree: dict[str, int] = defaultdict(int)
    strength: dict[str, float] = defaultdict(float)
    for (x, y), weight in after.items():
        for name in (x, y):
            degree[name] += 1
            strength[name] += weight
    n_build = build.graph_nodes
    worst = 0.0
    bound = max(exposure.error_bound for exposure in exposures)
    for person, row in features.items():
        assert row["graph_degree"] == degree.get(person, 0), person
        assert row["tie_strength_sum"] == pytest.approx(strength.get(person, 0.0), rel=1e-9)
        exposure = exposures[folds[person]]
        index = position.get(person)
        got = float(exposure.p[index]) if index is not None and index < exposure.n else 0.0
        worst = max(worst, abs(got - float(row["default_exposure"]) / n_build))
    print(
        f"exposure: {changed} pairs pushed, moving it by up to {moved:.2e}; "
        f"max |push - build| = {worst:.2e}, certificate ||r||_1 = {bound:.2e}"
    )
    assert worst < TOLERANCE, (worst, bound)
    assert moved > 100 * TOLERANCE  # the pushes mattered: without them the vector would be off
    assert np.isfinite(worst)
