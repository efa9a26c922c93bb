"""The ego credit graph of one applicant: two hops over the social ties in the lake, each
person's repayment status, shared devices as satellites, large branches folded.

The ties and devices are read from the process's index of the lake (:mod:`tie_index`, rebuilt
when the lake's files change); erased people and withdrawn consents come from the database on
each request, so an erasure or a revocation holds from the next request on. The graph is
bounded twice: at most ``PER_NODE`` contacts of any first-hop person are taken (a merchant
with 20,000 ties does not bring them all), and the drawn graph never exceeds ``MAX_NODES``.
Nodes carry shortened pseudonyms only: the JSON names no one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, case, func, or_, select

from creditgraph.privacy.purpose import CREDIT_ASSESSMENT, withdrawn_sources
from creditgraph.store.models import (
    AuditRecord,
    Consent,
    Erasure,
    Loan,
    LoanOutcome,
    Person,
    table_of,
)
from creditgraph.web.data import tie_index

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
_CONSENTS = table_of(Consent).c
_AUDIT = table_of(AuditRecord).c


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


_WITHDRAWN: dict[str, tuple[tuple[Any, ...], list[tuple[str, str]]]] = {}
_WITHDRAWN_LOCK = threading.Lock()


def _withdrawn(conn: Connection) -> list[tuple[str, str]]:
    """The withdrawn (person, source) pairs for credit assessment, read again only when a
    consent was added or changed since the last read.

    Reading them costs ~60 ms at 20,000 people; the check costs two primary-key maxima: every
    grant adds a consent row, and every revocation commits an audit record in its own
    transaction (as does an erasure), so either maximum moves before the change is visible.
    """
    stamp = (
        conn.execute(select(func.max(_CONSENTS.id))).scalar(),
        conn.execute(select(func.max(_AUDIT.id))).scalar(),
    )
    key = str(conn.engine.url)
    found = _WITHDRAWN.get(key)
    if found is not None and found[0] == stamp:
        return found[1]
    pairs = withdrawn_sources(conn, CREDIT_ASSESSMENT)
    with _WITHDRAWN_LOCK:
        _WITHDRAWN[key] = (stamp, pairs)
    return pairs


def _filters(conn: Connection, index: tie_index.TieIndex) -> tie_index.Filters:
    """Erased people (few, read each time) and withdrawn consents as positions in ``index``."""
    erased = tuple(sorted(conn.execute(select(_ERASURES.person_id)).scalars()))
    withdrawn = _withdrawn(conn)
    memo = index._memo.get("filters")
    if memo is not None and memo[0] == erased and memo[1] is withdrawn:
        found: tie_index.Filters = memo[2]
        return found
    found = index.filters(erased, withdrawn)
    index._memo["filters"] = (erased, withdrawn, found)
    return found


def _statuses(conn: Connection, people: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    ids = sorted(set(people))
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


def statuses(engine: Engine, people: Sequence[str]) -> dict[str, str]:
    """Each person's repayment status from their loans and observed outcomes.

    Defaulted: a loan written off, non-performing or 90+ days late, or a defaulted outcome;
    late: a loan past due; current: loans or outcomes, none of them bad; unknown: neither
    (a contact outside the book, or a person who never borrowed).
    """
    with engine.connect() as conn:
        return _statuses(conn, people)


def ego_graph(
    engine: Engine, lake_dir: Path, person_id: str, expand: Iterable[str] = ()
) -> dict[str, Any]:
    """The JSON the page draws: nodes, edges, folds and devices, pseudonyms shortened."""
    index = tie_index.index_for(lake_dir)
    with engine.connect() as conn:
        filters = _filters(conn, index)
    neighbours, totals, kinds = index.contacts(
        person_id, filters, max_first=MAX_NODES, per_node=PER_NODE
    )
    wanted = {e for e in expand if e}
    # expand names shortened pseudonyms, as the JSON gives them
    opened = [p for p in neighbours if short(p) in wanted]
    ego = fold(person_id, neighbours, totals, expand=opened)
    shared = index.shared_devices(person_id, filters, max_devices=MAX_DEVICES, per_device=PER_NODE)
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
    with engine.connect() as conn:
        status = _statuses(conn, people)
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
