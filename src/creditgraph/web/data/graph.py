"""The ego credit graph of one applicant: two hops over the social ties in the lake, each
person's repayment status, shared devices as satellites, large branches folded.

The graph is read per request from the lake's Parquet through DuckDB, bounded twice: at most
``PER_NODE`` contacts of any first-hop person are fetched (a merchant with 20,000 ties does
not bring them all), and the drawn graph never exceeds ``MAX_NODES``. Nodes carry shortened
pseudonyms only: the JSON names no one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Engine, case, func, or_, select

from creditgraph.duck import arrow_table, connect
from creditgraph.privacy.purpose import CREDIT_ASSESSMENT, withdrawn_sources
from creditgraph.store import lake
from creditgraph.store.models import Erasure, Loan, LoanOutcome, Person, table_of

SHORT = 16
"""Characters of a pseudonym a node shows: enough to be unique in any book, not the whole key."""
FOLD_OVER = 12
"""A first-hop person with more second-hop contacts than this is drawn folded, as "+K"."""
PER_NODE = 300
"""Contacts fetched per first-hop person at most (the fold shows how many there are in all)."""
MAX_NODES = 300
MAX_DEVICES = 10
STATUSES = ("current", "late", "defaulted", "unknown")

_LOANS = table_of(Loan).c
_OUTCOMES = table_of(LoanOutcome).c
_PERSONS = table_of(Person).c
_ERASURES = table_of(Erasure).c


_DUCK: list[duckdb.DuckDBPyConnection] = []
_DUCK_LOCK = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on the process's one in-memory DuckDB: opening a connection costs ~10 ms,
    a cursor of an open one almost nothing, and each request's cursor is its own."""
    with _DUCK_LOCK:
        if not _DUCK:
            _DUCK.append(connect("UTC", threads=2))
        return _DUCK[0].cursor()


def short(person_id: str) -> str:
    return person_id[:SHORT]


@dataclass
class Folded:
    """A branch drawn as one node: the first-hop person, and how many it hides."""

    parent: str
    hidden: int


@dataclass
class Ego:
    """Who is drawn at which hop, before statuses: the result of :func:`fold`."""

    center: str
    hop1: list[str]
    hop2: list[str]
    edges: list[tuple[str, str]]
    folded: list[Folded] = field(default_factory=list)
    truncated: bool = False


def fold(
    center: str,
    neighbours: Mapping[str, Sequence[str]],
    totals: Mapping[str, int] | None = None,
    *,
    fold_over: int = FOLD_OVER,
    expand: Iterable[str] = (),
    max_nodes: int = MAX_NODES,
) -> Ego:
    """The two-hop graph around ``center`` from each first-hop person's contacts.

    ``neighbours`` maps every first-hop person to their contacts (anyone: the center, other
    first-hop people, strangers); ``totals`` how many contacts each has in all when the list
    was capped. A first-hop person whose new second-hop people number more than ``fold_over``
    is folded unless named in ``expand``; people beyond two hops never appear, and the graph
    stops at ``max_nodes``.
    """
    opened = set(expand)
    hop1 = sorted(p for p in neighbours if p != center)[: max(0, max_nodes - 1)]
    first = set(hop1)
    seen = {center, *hop1}
    edges: list[tuple[str, str]] = [(center, p) for p in hop1]
    hop2: list[str] = []
    folded: list[Folded] = []
    truncated = len(neighbours) - (center in neighbours) > len(hop1)
    linked: set[tuple[str, str]] = set()
    for parent in hop1:
        contacts = [c for c in neighbours[parent] if c != center]
        for other in contacts:
            if other in first and (other, parent) not in linked:
                linked.add((parent, other))
                edges.append((parent, other))
        strangers = [c for c in dict.fromkeys(contacts) if c not in first]
        fetched = neighbours[parent]
        extra = (totals or {}).get(parent, len(fetched)) - len(fetched)
        new = [c for c in strangers if c not in seen]
        if len(new) + max(0, extra) > fold_over and parent not in opened:
            folded.append(Folded(parent, len(new) + max(0, extra)))
            for c in strangers:
                if c in seen and c != center:
                    edges.append((parent, c))
            continue
        for c in strangers:
            if c not in seen:
                if len(seen) + len(folded) >= max_nodes:
                    truncated = True
                    break
                seen.add(c)
                hop2.append(c)
            edges.append((parent, c))
    return Ego(center, hop1, hop2, edges, folded, truncated)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _contacts(
    lake_dir: Path, center: str, erased: Sequence[str], withdrawn: Sequence[tuple[str, str]]
) -> tuple[dict[str, list[str]], dict[str, int], dict[tuple[str, str], str]]:
    """Each first-hop person's contacts (capped at ``PER_NODE``), their totals, and edge kinds.

    Ties are read both ways (a contact is a contact whoever declared it), ended ties and
    erased people left out, and a tie whose declaring person withdrew the source's consent to
    credit assessment is not followed.
    """
    if not lake.has_data(lake_dir, "ties"):
        return {}, {}, {}
    con = _cursor()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("erased", pa.table({"p": pa.array(list(erased), pa.string())}))
        con.register(
            "withdrawn",
            pa.table(
                {
                    "p": pa.array([p for p, _ in withdrawn], pa.string()),
                    "s": pa.array([s for _, s in withdrawn], pa.string()),
                }
            ),
        )
        ties = (
            f"read_parquet({_literal(lake.parquet_glob(lake_dir, 'ties'))}, union_by_name = true)"
        )
        sql = f"""
        WITH t AS (
            SELECT src, dst, kind FROM {ties} r
            WHERE ended_at IS NULL
              AND src NOT IN (SELECT p FROM erased) AND dst NOT IN (SELECT p FROM erased)
              AND NOT EXISTS (SELECT 1 FROM withdrawn w WHERE w.p = r.src AND w.s = r.source)
        ),
        u AS (SELECT src AS a, dst AS b, kind FROM t UNION ALL SELECT dst, src, kind FROM t),
        h1 AS (SELECT DISTINCT b AS p FROM u WHERE a = $center AND b <> $center LIMIT {MAX_NODES}),
        pairs AS (
            SELECT a, b, min(kind) AS kind FROM u WHERE a IN (SELECT p FROM h1) GROUP BY a, b
        ),
        ranked AS (
            SELECT a, b, kind, row_number() OVER (PARTITION BY a ORDER BY b) AS n,
                   count(*) OVER (PARTITION BY a) AS total
            FROM pairs
        )
        SELECT a, b, kind, total FROM ranked WHERE n <= {PER_NODE} ORDER BY a, b
        """
        rows = arrow_table(con, sql, {"center": center}).to_pylist()
    finally:
        con.close()
    neighbours: dict[str, list[str]] = {}
    totals: dict[str, int] = {}
    kinds: dict[tuple[str, str], str] = {}
    for row in rows:
        neighbours.setdefault(row["a"], []).append(row["b"])
        totals[row["a"]] = int(row["total"])
        kinds[(row["a"], row["b"])] = row["kind"]
    return neighbours, totals, kinds


def _devices(lake_dir: Path, person_id: str, erased: Sequence[str]) -> dict[str, list[str]]:
    """The center's devices that someone else used too: device -> the other people."""
    if not lake.has_data(lake_dir, "devices"):
        return {}
    con = _cursor()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("erased", pa.table({"p": pa.array(list(erased), pa.string())}))
        devices = (
            f"read_parquet({_literal(lake.parquet_glob(lake_dir, 'devices'))}, "
            "union_by_name = true)"
        )
        sql = f"""
        WITH d AS (
            SELECT DISTINCT person_id, device_id FROM {devices}
            WHERE person_id NOT IN (SELECT p FROM erased)
        ),
        mine AS (SELECT device_id FROM d WHERE person_id = $p LIMIT {MAX_DEVICES})
        SELECT device_id, person_id FROM d
        WHERE device_id IN (SELECT device_id FROM mine) AND person_id <> $p
        ORDER BY device_id, person_id
        """
        rows = arrow_table(con, sql, {"p": person_id}).to_pylist()
    finally:
        con.close()
    shared: dict[str, list[str]] = {}
    for row in rows:
        people = shared.setdefault(row["device_id"], [])
        if len(people) < PER_NODE:
            people.append(row["person_id"])
    return shared


def statuses(engine: Engine, people: Sequence[str]) -> dict[str, str]:
    """Each person's repayment status from their loans and observed outcomes.

    Defaulted: a loan written off, non-performing or 90+ days late, or a defaulted outcome;
    late: a loan past due; current: loans or outcomes, none of them bad; unknown: neither
    (a contact outside the book, or a person who never borrowed).
    """
    found: dict[str, str] = {}
    ids = sorted(set(people))
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            bad = or_(_LOANS.state == "written_off", _LOANS.npa.is_(True), _LOANS.dpd >= 90)
            loans = conn.execute(
                select(
                    _LOANS.person_id,
                    func.max(case((bad, 2), (_LOANS.dpd > 0, 1), else_=0)),
                )
                .where(_LOANS.person_id.in_(chunk))
                .group_by(_LOANS.person_id)
            )
            for person, worst in loans:
                found[person] = ("current", "late", "defaulted")[int(worst)]
            outcomes = conn.execute(
                select(_OUTCOMES.person_id, func.max(case((_OUTCOMES.defaulted, 1), else_=0)))
                .where(_OUTCOMES.person_id.in_(chunk))
                .group_by(_OUTCOMES.person_id)
            )
            for person, defaulted in outcomes:
                if int(defaulted):
                    found[person] = "defaulted"
                else:
                    found.setdefault(person, "current")
    return {p: found.get(p, "unknown") for p in ids}


def ego_graph(
    engine: Engine, lake_dir: Path, person_id: str, expand: Iterable[str] = ()
) -> dict[str, Any]:
    """The JSON the page draws: nodes, edges, folds and devices, pseudonyms shortened."""
    with engine.connect() as conn:
        erased = sorted(conn.execute(select(_ERASURES.person_id)).scalars())
        withdrawn = withdrawn_sources(conn, CREDIT_ASSESSMENT)
    neighbours, totals, kinds = _contacts(lake_dir, person_id, erased, withdrawn)
    wanted = {e for e in expand if e}
    # expand names shortened pseudonyms, as the JSON gives them
    opened = [p for p in neighbours if short(p) in wanted]
    ego = fold(person_id, neighbours, totals, expand=opened)
    shared = _devices(lake_dir, person_id, erased)
    people = [ego.center, *ego.hop1, *ego.hop2]
    drawn = set(people)
    satellites: list[tuple[str, list[str]]] = []
    for device, others in shared.items():
        if len(drawn) + len(satellites) + len(ego.folded) >= MAX_NODES:
            break
        room = MAX_NODES - len(drawn) - len(satellites) - len(ego.folded) - 1
        members = [o for o in others if o in drawn] + [o for o in others if o not in drawn]
        members = members[: max(0, room)]
        for o in members:
            if o not in drawn:
                drawn.add(o)
                people.append(o)
        satellites.append((device, members))
    status = statuses(engine, people)
    with engine.connect() as conn:
        in_book = set(
            conn.execute(select(_PERSONS.person_id).where(_PERSONS.person_id.in_(people))).scalars()
        )
    hop = {ego.center: 0, **{p: 1 for p in ego.hop1}, **{p: 2 for p in ego.hop2}}
    nodes: list[dict[str, Any]] = [
        {
            "id": short(p),
            "kind": "person",
            "hop": hop.get(p, 2),
            "status": status[p],
            "is_center": p == ego.center,
            "in_book": p in in_book,
        }
        for p in people
    ]
    edges: list[dict[str, Any]] = [
        {
            "source": short(a),
            "target": short(b),
            "kind": kinds.get((a, b)) or kinds.get((b, a)) or "tie",
        }
        for a, b in ego.edges
    ]
    for f in ego.folded:
        node = f"fold:{short(f.parent)}"
        nodes.append(
            {
                "id": node,
                "kind": "folded",
                "hop": 2,
                "status": "unknown",
                "is_center": False,
                "in_book": False,
                "hidden": f.hidden,
                "parent": short(f.parent),
                "label": f"+{f.hidden}",
            }
        )
        edges.append({"source": short(f.parent), "target": node, "kind": "folded"})
    for n, (_, members) in enumerate(satellites, start=1):
        node = f"device:{n}"
        nodes.append(
            {
                "id": node,
                "kind": "device",
                "hop": 1,
                "status": "unknown",
                "is_center": False,
                "in_book": False,
            }
        )
        for p in (ego.center, *members):
            edges.append({"source": node, "target": short(p), "kind": "device"})
    return {
        "center": short(ego.center),
        "nodes": nodes,
        "edges": edges,
        "truncated": ego.truncated,
        "fold_over": FOLD_OVER,
        "counts": {
            s: sum(1 for n in nodes if n["kind"] == "person" and n["status"] == s) for s in STATUSES
        },
    }


def first_hop(graph: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The first-hop people of a graph, for the table shown without JavaScript."""
    return [n for n in graph["nodes"] if n["kind"] == "person" and n["hop"] == 1]
