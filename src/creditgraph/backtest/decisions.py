"""The decision engine on backtest rows, with no records stored.

Each scored application is decided exactly as a live one would be (same context builder, same
pure engine, the packaged catalogue, policy and configuration), with its consents as of its date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from creditgraph.backtest.applications import Applications
from creditgraph.decision.config_files import load_catalogue, load_config, load_policy
from creditgraph.decision.context import raw_context
from creditgraph.decision.engine import Application, decide
from creditgraph.decision.errors import DecisionInputError
from creditgraph.decision.products import Catalogue
from creditgraph.decision.rules import Policy
from creditgraph.scoring.models import ScoredRows
from creditgraph.settings import Settings


@dataclass(frozen=True)
class Consents:
    """Each person's credit-assessment consents: (source, granted, expires, revoked)."""

    by_person: Mapping[str, list[tuple[str, datetime, datetime | None, datetime | None]]]

    def sources_at(self, person_id: str, at: datetime) -> int:
        naive = at.astimezone(UTC).replace(tzinfo=None)
        return len(
            {
                source
                for source, granted, expires, revoked in self.by_person.get(person_id, [])
                if granted <= naive
                and (expires is None or expires > naive)
                and (revoked is None or revoked > naive)
            }
        )


def load_consents(settings: Settings) -> Consents:
    from sqlalchemy import select

    from creditgraph.store.db import migrated_engine
    from creditgraph.store.models import Consent, table_of

    c = table_of(Consent).c
    out: dict[str, list[tuple[str, datetime, datetime | None, datetime | None]]] = {}
    query = select(c.person_id, c.source, c.granted_at, c.expires_at, c.revoked_at).where(
        c.purpose == "credit_assessment"
    )
    with migrated_engine(settings.database_url) as db, db.connect() as conn:
        for r in conn.execute(query):
            out.setdefault(r.person_id, []).append(
                (r.source, r.granted_at, r.expires_at, r.revoked_at)
            )
    return Consents(out)


def decision_context(
    values: Mapping[str, Any], scored: Mapping[str, Any], sources: int, policy: Policy
) -> dict[str, Any]:
    """The decision core's applicant context, built exactly as the decision service builds it."""
    return raw_context(values, scored, policy, consent=sources > 0, sources=sources)


DECISION_COLUMNS = (
    "outcome",
    "limit",
    "amount_offered",
    "nominal_rate",
    "all_in_rate",
    "decision_reasons",
    "decision_error",
)


def decide_rows(
    applications: Applications,
    features: pa.Table,
    scored: ScoredRows,
    scored_rows: npt.NDArray[np.int64],
    consents: Consents,
) -> dict[str, list[str | None]]:
    """The pure decision engine on every scored application with a product, amount and term."""
    products, policy, config = load_catalogue(), load_policy(), load_config()
    out: dict[str, list[str | None]] = {c: [None] * len(applications) for c in DECISION_COLUMNS}
    records = features.to_pylist()
    for k, i in enumerate(scored_rows.tolist()):
        product, amount, term = (
            applications.product[i],
            applications.amount[i],
            applications.term[i],
        )
        if product is None or amount is None or term is None:
            out["decision_error"][i] = "product, amount and term are needed to decide"
            continue
        try:
            application = _application(applications, i, products)
            values = records[k]
            one = {
                "score": scored.score[k],
                "pd": scored.pd[k],
                "grade": scored.grade[k],
                "model_id": scored.model_id,
                "reasons": scored.reasons[k],
            }
            sources = consents.sources_at(values["person_id"], applications.applied_at[i])
            made = decide(
                application,
                decision_context(values, one, sources, policy),
                products,
                policy,
                config,
            )
        except DecisionInputError as exc:
            out["decision_error"][i] = str(exc)
            continue
        offer = made.offers[0] if made.offers else None
        out["outcome"][i] = made.outcome.value
        out["limit"][i] = str(made.limit)
        out["amount_offered"][i] = None if offer is None else str(offer.amount)
        out["nominal_rate"][i] = None if offer is None else str(offer.nominal_rate)
        out["all_in_rate"][i] = None if offer is None else str(offer.all_in_rate)
        out["decision_reasons"][i] = "; ".join(r.code for r in made.reasons)
    return out


def _application(applications: Applications, i: int, products: Catalogue) -> Application:
    code = applications.product[i] or ""
    product = products.get(code)
    if product is None:
        raise DecisionInputError("product_code", f"unknown product {code!r}")
    try:
        amount = Decimal(applications.amount[i] or "")
    except InvalidOperation:
        raise DecisionInputError("amount", f"{applications.amount[i]!r} is not an amount") from None
    try:
        term = int(applications.term[i] or "")
    except ValueError:
        raise DecisionInputError("term_months", f"{applications.term[i]!r} is not a term") from None
    return Application(
        person_id=applications.person_ids[i],
        product_code=code,
        amount=amount,
        term_months=term,
        purpose=product.purposes[0],
        schedule_type=product.schedule_types[0].value,
        as_of=applications.feature_dates[i],
    )
