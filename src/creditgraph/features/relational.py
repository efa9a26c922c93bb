"""Relational features, defined once as Ibis expressions and run on DuckDB or PySpark.

Every expression takes the as-of instant ``t`` (epoch seconds) and uses only events before it.
Times are compared as epoch seconds so both engines read them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import ibis
import ibis.expr.types as ir

from creditgraph.features.asof import DAY
from creditgraph.features.tie_weights import (
    INTERACTION_ONLY_WEIGHT,
    KIND_WEIGHTS,
    NON_RECIPROCAL_FACTOR,
    OTHER_KIND_WEIGHT,
)

LN2 = 0.6931471805599453


@dataclass(frozen=True)
class Inputs:
    """The contract tables as Ibis tables on one backend (times as timestamps, money in fen)."""

    persons: ir.Table
    ties: ir.Table
    interactions: ir.Table
    devices: ir.Table
    activity: ir.Table
    external_loans: ir.Table
    outcomes: ir.Table


def _epoch(column: ir.TimestampValue) -> ir.IntegerValue:
    return column.epoch_seconds().cast("int64")


def _kind_weight(kind: ir.StringValue) -> ir.FloatingValue:
    return kind.cases(*KIND_WEIGHTS.items(), else_=OTHER_KIND_WEIGHT).cast("float64")


def active_ties(ties: ir.Table, t: int) -> ir.Table:
    """Ties that existed at ``t``, as undirected pairs ``a < b`` with their declaring direction."""
    created = _epoch(ties.created_at)
    alive = ties.filter((created < t) & (ties.ended_at.isnull() | (_epoch(ties.ended_at) > t)))
    return alive.select(
        a=ibis.least(alive.src, alive.dst),
        b=ibis.greatest(alive.src, alive.dst),
        kind=alive.kind,
        forward=(alive.src < alive.dst),
        created=_epoch(alive.created_at),
    )


def weighted_edges(inputs: Inputs, t: int, half_life_days: float) -> ir.Table:
    """One row per undirected pair joined by a tie at ``t`` or an interaction before ``t``.

    ``strength = kind weight x (1 + ln(1 + decayed interaction count)) x reciprocity factor``:
    a declared family tie with frequent recent two-way contact is the strongest; an old one-way
    follow the weakest. Interactions decay with the given half-life.
    """
    ties = active_ties(inputs.ties, t)
    tie_pairs = ties.group_by(["a", "b"]).aggregate(
        kind_weight=_kind_weight(ties.kind).max(),
        tie_directions=ties.forward.nunique(),
        first_tie=ties.created.min(),
        kinds=ties.kind.nunique(),
    )
    inter = inputs.interactions
    ts = _epoch(inter.ts)
    past = inter.filter(ts < t)
    age_days = (ibis.literal(t) - _epoch(past.ts)).cast("float64") / DAY
    events = past.select(
        a=ibis.least(past.src, past.dst),
        b=ibis.greatest(past.src, past.dst),
        forward=(past.src < past.dst),
        decayed=past["count"].cast("float64") * (age_days * (-LN2 / half_life_days)).exp(),
        recent=ibis.ifelse(age_days < 90, past["count"], 0),
    )
    inter_pairs = events.group_by(["a", "b"]).aggregate(
        decayed=events.decayed.sum(),
        interactions_90d=events.recent.sum(),
        interaction_directions=events.forward.nunique(),
    )
    joined = tie_pairs.outer_join(
        inter_pairs, [tie_pairs.a == inter_pairs.a, tie_pairs.b == inter_pairs.b]
    )
    a = ibis.coalesce(joined.a, joined.a_right)
    b = ibis.coalesce(joined.b, joined.b_right)
    kind_weight = ibis.coalesce(joined.kind_weight, INTERACTION_ONLY_WEIGHT)
    decayed = ibis.coalesce(joined.decayed, 0.0)
    reciprocal = (ibis.coalesce(joined.tie_directions, 0) >= 2) | (
        ibis.coalesce(joined.interaction_directions, 0) >= 2
    )
    strength = (
        kind_weight
        * (1.0 + (1.0 + decayed).ln())
        * ibis.ifelse(reciprocal, 1.0, NON_RECIPROCAL_FACTOR)
    )
    return joined.select(
        a=a,
        b=b,
        strength=strength,
        declared=joined.kind_weight.notnull(),
        reciprocal=reciprocal,
        interactions_90d=ibis.coalesce(joined.interactions_90d, 0).cast("int64"),
        first_tie=joined.first_tie,
    )


def _window_sum(value: ir.NumericValue, age: ir.NumericValue, days: int) -> ir.NumericScalar:
    return ibis.ifelse(age < days * DAY, value, 0).sum()


def activity_features(inputs: Inputs, t: int) -> ir.Table:
    """Interaction volume in 7/30/90 days (both directions), money moved, partners, reciprocity."""
    inter = inputs.interactions
    ts = _epoch(inter.ts)
    recent = inter.filter((ts < t) & (ts >= t - 90 * DAY))
    age = ibis.literal(t) - _epoch(recent.ts)
    money = ibis.coalesce(recent.amount_fen, 0)
    out = recent.select(
        person_id=recent.src,
        partner=recent.dst,
        n=recent["count"],
        age=age,
        money_out=money,
        money_in=ibis.literal(0, "int64"),
        outgoing=ibis.literal(1),
    )
    inc = recent.select(
        person_id=recent.dst,
        partner=recent.src,
        n=recent["count"],
        age=age,
        money_out=ibis.literal(0, "int64"),
        money_in=money,
        outgoing=ibis.literal(0),
    )
    both = out.union(inc, distinct=False)
    per_partner = both.group_by(["person_id", "partner"]).aggregate(
        directions=both.outgoing.nunique()
    )
    partners = per_partner.group_by("person_id").aggregate(
        partners_90d=per_partner.partner.count(),
        reciprocal_partners_90d=(per_partner.directions >= 2).cast("int64").sum(),
    )
    volume = both.group_by("person_id").aggregate(
        interactions_7d=_window_sum(both.n, both.age, 7),
        interactions_30d=_window_sum(both.n, both.age, 30),
        interactions_90d=both.n.sum(),
        outgoing_90d=(both.n * both.outgoing).sum(),
        transfer_out_fen_90d=both.money_out.sum(),
        transfer_in_fen_90d=both.money_in.sum(),
    )
    return volume.left_join(partners, "person_id").select(
        volume.person_id,
        volume.interactions_7d,
        volume.interactions_30d,
        volume.interactions_90d,
        volume.outgoing_90d,
        volume.transfer_out_fen_90d,
        volume.transfer_in_fen_90d,
        partners.partners_90d,
        reciprocity_90d=partners.reciprocal_partners_90d.cast("float64")
        / ibis.greatest(partners.partners_90d, 1),
    )


def daily_activity_features(inputs: Inputs, as_of: date) -> ir.Table:
    """Active days, posting and login levels and their trend (last 30 days against the 30 before)."""
    act = inputs.activity
    # dates are local calendar days: compare them with the as-of date, not an instant
    age_days = ibis.date(as_of.isoformat()).delta(act.date, unit="day")
    window = act.mutate(age_days=age_days).filter((age_days > 0) & (age_days <= 90))
    last = window.age_days <= 30
    before = (window.age_days > 30) & (window.age_days <= 60)
    agg = window.group_by("person_id").aggregate(
        active_days_90d=(window.active_minutes > 0).cast("int64").sum(),
        active_minutes_30d=ibis.ifelse(last, window.active_minutes, 0).sum(),
        posts_30d=ibis.ifelse(last, window.posts, 0).sum(),
        posts_prev_30d=ibis.ifelse(before, window.posts, 0).sum(),
        logins_30d=ibis.ifelse(last, window.logins, 0).sum(),
        logins_prev_30d=ibis.ifelse(before, window.logins, 0).sum(),
    )
    return agg.select(
        agg.person_id,
        agg.active_days_90d,
        agg.active_minutes_30d,
        agg.posts_30d,
        agg.logins_30d,
        posts_trend=(agg.posts_30d - agg.posts_prev_30d).cast("float64") / (agg.posts_prev_30d + 1),
        logins_trend=(agg.logins_30d - agg.logins_prev_30d).cast("float64")
        / (agg.logins_prev_30d + 1),
    )


def tie_features(inputs: Inputs, t: int) -> ir.Table:
    """Degree by tie kind at ``t``, first tie (social account age) and ties formed in 30 days.

    Counted on distinct (person, contact, kind) and (person, contact) rows with plain sums:
    the same numbers as distinct counts of contacts, without one hash table per count.
    """
    ties = active_ties(inputs.ties, t)
    ends = ties.select(person_id=ties.a, other=ties.b, kind=ties.kind, created=ties.created).union(
        ties.select(person_id=ties.b, other=ties.a, kind=ties.kind, created=ties.created),
        distinct=False,
    )
    by_kind = ends.group_by(["person_id", "other", "kind"]).aggregate(
        first=ends.created.min(), last=ends.created.max()
    )
    kinds = by_kind.group_by("person_id").aggregate(
        **{f"degree_{kind}": (by_kind.kind == kind).cast("int64").sum() for kind in KIND_WEIGHTS}
    )
    contacts = by_kind.group_by(["person_id", "other"]).aggregate(
        first=by_kind.first.min(), last=by_kind.last.max()
    )
    per_person = contacts.group_by("person_id").aggregate(
        degree=contacts.count(),
        first_tie=contacts.first.min(),
        new_ties_30d=(contacts.last >= t - 30 * DAY).cast("int64").sum(),
    )
    agg = per_person.join(kinds, "person_id")
    return agg.select(
        "person_id",
        "degree",
        "new_ties_30d",
        *[f"degree_{kind}" for kind in KIND_WEIGHTS],
        social_age_days=(ibis.literal(t) - agg.first_tie).cast("float64") / DAY,
        new_tie_share_30d=agg.new_ties_30d.cast("float64") / ibis.greatest(agg.degree, 1),
    )


def external_loan_features(inputs: Inputs, t: int) -> ir.Table:
    """Other platforms as of ``t``: the latest report of each loan before ``t``."""
    loans = inputs.external_loans
    known = loans.filter(_epoch(loans.reported_at) < t)
    ranked = known.mutate(
        rank=ibis.row_number().over(
            group_by=[known.person_id, known.lender, known.opened_at, known.amount_fen],
            order_by=ibis.desc(known.reported_at),
        )
    )
    latest = ranked.filter(ranked["rank"] == 0)
    is_open = latest.status.isin(["open", "overdue"])
    return latest.group_by("person_id").aggregate(
        ext_loans=latest.count(),
        ext_open_loans=is_open.cast("int64").sum(),
        ext_overdue_loans=(latest.status == "overdue").cast("int64").sum(),
        ext_written_off=(latest.status == "written_off").cast("int64").sum(),
        ext_max_dpd=latest.max_dpd.max(),
        ext_open_amount_fen=ibis.ifelse(is_open, latest.amount_fen, 0).sum(),
        ext_lenders=latest.lender.nunique(),
    )


def device_features(inputs: Inputs, t: int) -> ir.Table:
    """Devices seen before ``t`` and how many people share them."""
    dev = inputs.devices.filter(_epoch(inputs.devices.first_seen) < t)
    per_device = dev.group_by("device_id").aggregate(people=dev.person_id.nunique())
    joined = dev.join(per_device, "device_id")
    return joined.group_by("person_id").aggregate(
        devices=joined.device_id.nunique(),
        max_people_per_device=joined.people.max(),
    )


def person_base(inputs: Inputs, t: int, year: int) -> ir.Table:
    """People registered before ``t`` with their own declared attributes (gender is never used)."""
    p = inputs.persons
    alive = p.filter(_epoch(p.registered_at) < t)
    return alive.select(
        alive.person_id,
        alive.segment,
        alive.region_tier,
        age_years=(ibis.literal(year) - alive.birth_year).cast("int64"),
        income_monthly_fen=alive.declared_monthly_income_fen,
        account_age_days=(ibis.literal(t) - _epoch(alive.registered_at)).cast("float64") / DAY,
        fold=alive.fold,  # not features: the label fold and the node-order key, taken out in
        order_key=alive.order_key,  # ``build.assemble``
    )


def device_links(inputs: Inputs, t: int) -> ir.Table:
    """Person-device links seen before ``t``, distinct: the device layer of the credit graph."""
    dev = inputs.devices.filter(_epoch(inputs.devices.first_seen) < t)
    return dev.select(dev.person_id, dev.device_id).distinct()
