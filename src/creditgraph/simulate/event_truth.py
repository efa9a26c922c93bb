"""The planted ground truth an evaluation of monitoring scores itself against.

Four kinds of planted pattern, each with the dates a lead time is measured from, keyed by the raw
identifiers the tables and the event stream use (an evaluation pseudonymises them like any
input):

- ``fraud_rings``: each ring's members, the devices and phone numbers two or more of them share,
  when the ring struck and when each member applied;
- ``shocks``: who lost income, when, until when (null: for good) and what share was left;
- ``contagion``: each defaulter and the contacts on strong ties (the top quarter of tie
  strength) who defaulted after them;
- ``activity_collapse``: each defaulter, when their activity began to fall, their first missed
  instalment and their default (90 days past due).

All of the world's planted patterns are listed with their dates, whatever the event window, so
an evaluation can tell what the window could have caught.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from creditgraph.simulate.event_rows import iso, strings
from creditgraph.simulate.servicing_events import loan_ids
from creditgraph.simulate.world import World

STRONG_TIE_QUANTILE = 0.75
TRUTH_VERSION = 1


def _when(seconds: int) -> str | None:
    return iso(seconds) if seconds >= 0 else None


def fraud_rings(world: World, devices: pa.Table) -> list[dict[str, Any]]:
    pop, rings = world.pop, world.rings
    ids = strings(world.person_ids)
    device_people: dict[str, set[int]] = defaultdict(set)
    index = {pid: i for i, pid in enumerate(ids)}
    for person, device in zip(
        strings(devices["person_id"]), strings(devices["device_id"]), strict=True
    ):
        device_people[device].add(index[person])
    out = []
    for r in range(rings.count):
        first = pop.n_normal + int(rings.first[r])
        members = list(range(first, first + int(rings.sizes[r])))
        member_set = set(members)
        shared_devices = sorted(
            d for d, people in device_people.items() if len(people & member_set) >= 2
        )
        phones: dict[int, int] = defaultdict(int)
        for m in members:
            if pop.phone[m] >= 0:
                phones[int(pop.phone[m])] += 1
        out.append(
            {
                "ring_id": r,
                "strike_at": iso(int(rings.strike_at[r])),
                "members": [ids[m] for m in members],
                "applied_at": {ids[m]: iso(int(pop.applied_at[m])) for m in members},
                "shared_devices": shared_devices,
                "shared_phones": sorted(str(p) for p, k in phones.items() if k >= 2),
            }
        )
    return out


def shocks(world: World) -> list[dict[str, Any]]:
    d = world.distress
    ids = strings(world.person_ids)
    order = np.lexsort((d.shock_person, d.shock_at))
    return [
        {
            "person_id": ids[int(d.shock_person[i])],
            "kind": "income_loss",
            "at": iso(int(d.shock_at[i])),
            "until": _when(int(d.shock_until[i])),
            "income_left": round(float(d.shock_left[i]), 4),
        }
        for i in order.tolist()
    ]


def contagion(world: World) -> list[dict[str, Any]]:
    g = world.graph
    ids = strings(world.person_ids)
    default_at = world.book.default_at_by_person(world.pop.n)
    threshold = float(np.quantile(g.strength, STRONG_TIE_QUANTILE)) if g.edges else 0.0
    strong = (g.strength >= threshold) & (default_at[g.u] >= 0) & (default_at[g.v] >= 0)
    followers: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for u, v, s in zip(
        g.u[strong].tolist(), g.v[strong].tolist(), g.strength[strong].tolist(), strict=True
    ):
        if default_at[u] < default_at[v]:
            followers[u].append((v, s))
        elif default_at[v] < default_at[u]:
            followers[v].append((u, s))
    out = []
    for first in sorted(followers, key=lambda p: (int(default_at[p]), ids[p])):
        after = sorted(followers[first], key=lambda x: (int(default_at[x[0]]), ids[x[0]]))
        out.append(
            {
                "defaulter": ids[first],
                "default_at": iso(int(default_at[first])),
                "followers": [
                    {
                        "person_id": ids[v],
                        "default_at": iso(int(default_at[v])),
                        "tie_strength": round(s, 4),
                        "days_after": int((default_at[v] - default_at[first]) // 86_400),
                    }
                    for v, s in after
                ],
            }
        )
    return out


def activity_collapse(world: World) -> list[dict[str, Any]]:
    book, d = world.book, world.distress
    ids = strings(world.person_ids)
    loans = loan_ids(book.loans)
    bad = np.flatnonzero(book.defaulted)
    bad = bad[np.argsort(book.missed_at[bad], kind="stable")]
    return [
        {
            "person_id": ids[int(book.person[i])],
            "loan_id": loans[i],
            "collapse_start": iso(int(d.collapse_start[book.person[i]])),
            "first_missed": iso(int(book.missed_at[i])),
            "default_at": iso(int(book.default_at[i])),
        }
        for i in bad.tolist()
    ]


def write_truth(
    world: World, devices: pa.Table, start: int, end: int, path: Path
) -> dict[str, int]:
    """Write the truth as one JSON document; returns how many items of each kind it holds."""
    truth = {
        "version": TRUTH_VERSION,
        "seed": world.config.seed,
        "window": {"start": iso(start), "end": iso(end)},
        "fraud_rings": fraud_rings(world, devices),
        "shocks": shocks(world),
        "contagion": contagion(world),
        "activity_collapse": activity_collapse(world),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return {key: len(value) for key, value in truth.items() if isinstance(value, list)}
