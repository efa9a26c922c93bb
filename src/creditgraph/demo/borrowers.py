"""How the demo's borrowers behave once their loans are disbursed, drawn from the simulator's truth.

A borrower defaults on the new loan with probability ``pd_true`` (their own luck drawn afresh),
or, for people the simulator gave no loan, as its counterfactual ``defaulted`` says; a defaulter
pays until an instalment drawn from the truth (``default_at`` less the 90 days it took, for
people whose earlier loan defaulted; the simulator's own rule otherwise) and never again. Good
payers pay on their due dates and one in ten prepays in full at a random month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from creditgraph.demo.context import DemoContext

MONTHS = 12
"""How long the demo services its loans: months of repayments after the disbursement."""
PREPAY_SHARE = 0.10


@dataclass(frozen=True)
class Behaviour:
    """How one borrower will behave: stop paying from ``stops_at`` (or never); prepay on a date."""

    stops_at: int | None = None
    prepay_on: date | None = None


def ground_truth(ctx: DemoContext, people: set[str]) -> dict[str, tuple[bool, float, int | None]]:
    """(counterfactual default, pd, months from an earlier loan to its default) per pseudonym."""
    import pyarrow.parquet as pq

    from creditgraph.contracts.schema import Namespace
    from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key

    simulation = ctx.results["simulation"]
    truth = pq.read_table(
        simulation.truth_path,
        columns=["person_id", "pd_true", "defaulted", "has_loan", "default_at"],
    ).to_pylist()
    applied = {
        row["person_id"]: row["applied_at"]
        for row in pq.read_table(
            simulation.files["loan_outcomes"], columns=["person_id", "applied_at"]
        ).to_pylist()
    }
    pseudo = Pseudonymiser(load_or_create_key(ctx.settings.key_file))
    out: dict[str, tuple[bool, float, int | None]] = {}
    for row in truth:
        person = pseudo.one(Namespace.PERSON, row["person_id"])
        if person not in people:
            continue
        months = None
        start = applied.get(row["person_id"])
        if row["default_at"] is not None and start is not None:
            months = round((row["default_at"] - start).days / 30.4)
        counterfactual = bool(row["defaulted"]) and not row["has_loan"]
        out[person] = (counterfactual, float(row["pd_true"]), months)
    return out


def behaviours(
    loans: list[tuple[str, str, list[date]]],
    truth: dict[str, tuple[bool, float, int | None]],
    seed: int,
) -> dict[str, Behaviour]:
    """Each loan's borrower behaviour, drawn reproducibly from the ground truth."""
    rng = np.random.default_rng(seed + 6)
    out: dict[str, Behaviour] = {}
    for loan_id, person, dues in loans:
        counterfactual, pd, months = truth.get(person, (False, 0.0, None))
        defaults = counterfactual or bool(rng.random() < pd)
        term = len(dues)
        if defaults:
            # The simulator's defaults reach 90 DPD three months after the first missed instalment.
            stop = months - 3 if months is not None else 1 + int(rng.exponential(2.5))
            out[loan_id] = Behaviour(stops_at=max(1, min(stop, term, 9)))
        elif term > 2 and rng.random() < PREPAY_SHARE:
            month = int(rng.integers(1, min(term, MONTHS) - 1))
            out[loan_id] = Behaviour(prepay_on=dues[month - 1] + timedelta(days=10))
        else:
            out[loan_id] = Behaviour()
    return out


def payments_by_day(
    schedules: dict[str, tuple[str, list[date]]], plans: dict[str, Behaviour]
) -> dict[date, list[tuple[str, str]]]:
    """Payments by business date: ("repay" | "prepay", loan)."""
    actions: dict[date, list[tuple[str, str]]] = {}
    for loan_id, (_, dues) in schedules.items():
        plan = plans[loan_id]
        for n, due in enumerate(dues, start=1):
            if plan.stops_at is not None and n >= plan.stops_at:
                break
            if plan.prepay_on is not None and due > plan.prepay_on:
                break
            actions.setdefault(due, []).append(("repay", loan_id))
        if plan.prepay_on is not None:
            actions.setdefault(plan.prepay_on, []).append(("prepay", loan_id))
    return actions
