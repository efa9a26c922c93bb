"""Outcomes and reports are dated the way a lender learns them, so point-in-time features see
earlier applicants' defaults and nothing from the future."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from creditgraph.simulate import SimulationConfig, SimulationResult, simulate
from creditgraph.simulate.book import DPD_DEFAULT
from creditgraph.simulate.clock import OUTCOME_MONTHS, Timeline, add_months_seconds

LABEL_FEATURES = (
    "default_exposure",
    "defaulted_contacts",
    "defaulted_share_1hop",
    "community_default_rate",
    "multilayer_exposure",
)


def _seconds(column: pa.ChunkedArray) -> np.ndarray:
    """Epoch seconds, -1 for nulls."""
    seconds = pc.cast(pc.cast(column, pa.timestamp("s", tz="UTC")), pa.int64())
    return np.asarray(pc.fill_null(seconds, -1).to_numpy(), np.int64)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return simulate(SimulationConfig(people=3000, seed=4), tmp_path_factory.mktemp("outcomes"))


def test_outcomes_are_observed_when_known(world: SimulationResult) -> None:
    outcomes = pq.read_table(world.files["loan_outcomes"])
    applied = _seconds(outcomes["applied_at"])
    observed = _seconds(outcomes["observed_at"])
    bad = outcomes["defaulted"].to_numpy()
    term = outcomes["term_months"].to_numpy()
    # a default is known at 90 days past due: the first instalment falls due a month after
    # disbursement, so never earlier than that, and always inside the 12-month window
    first_due = add_months_seconds(applied, 1)
    window_end = add_months_seconds(applied, OUTCOME_MONTHS)
    assert (observed[bad] >= first_due[bad] + DPD_DEFAULT * 86_400).all()
    assert (observed[bad] < window_end[bad]).all()
    # a good loan is known once repaid at maturity or once its 12-month window has passed
    settled = add_months_seconds(applied, np.minimum(term, OUTCOME_MONTHS).astype(np.int64))
    assert (observed[~bad] == settled[~bad]).all()
    # defaults become known over many months, not on one date
    lag_days = (observed[bad] - applied[bad]) // 86_400
    assert lag_days.min() < 130 and lag_days.max() > 250

    truth = pq.read_table(world.truth_path)
    default_at = dict(
        zip(truth["person_id"].to_pylist(), _seconds(truth["default_at"]), strict=True)
    )
    people = outcomes["person_id"].to_pylist()
    assert all(default_at[p] == o for p, o, b in zip(people, observed, bad, strict=True) if b)


def test_nothing_is_observed_after_the_world_ends(world: SimulationResult) -> None:
    timeline = Timeline.from_config(SimulationConfig(people=3000, seed=4))
    end = timeline.world_end
    assert end == int(datetime(2026, 7, 1, tzinfo=UTC).timestamp())
    outcomes = pq.read_table(world.files["loan_outcomes"])
    applied = _seconds(outcomes["applied_at"])
    assert (_seconds(outcomes["observed_at"]) < end).all()
    # every loan's 12-month window closed before the end, so no "good" label is premature
    assert (add_months_seconds(applied, OUTCOME_MONTHS) < end).all()
    # applications spread over two years, so early outcomes are known when later people apply
    span = (applied.max() - applied.min()) / 86_400
    assert span > 700
    external = pq.read_table(world.files["external_loans"])
    reported = external.filter(pc.is_valid(external["reported_at"]))
    assert (_seconds(reported["reported_at"]) < end).all()


def test_loans_elsewhere_are_reported_as_they_change(world: SimulationResult) -> None:
    external = pq.read_table(world.files["external_loans"]).to_pandas()
    dated = external.dropna(subset=["reported_at"])
    assert (dated.reported_at >= dated.opened_at).all()
    opened = dated[dated.status == "open"]
    assert (opened.max_dpd == 0).all()
    assert (opened.reported_at - opened.opened_at <= timedelta(days=5)).all()
    # one loan has several reports: opened first, later repaid, overdue or written off
    per_loan = external.groupby(["person_id", "lender", "opened_at", "amount"]).status.nunique()
    assert (per_loan > 1).mean() > 0.5
    arrears = dated[dated.status.isin(["overdue", "written_off"])]
    assert (arrears.max_dpd >= 30).all()
    assert ((arrears.reported_at - arrears.opened_at).dt.days >= arrears.max_dpd).all()


def test_monthly_training_set_sees_earlier_defaults(tmp_path: Path) -> None:
    from creditgraph.features.service import training_set
    from creditgraph.ingest.service import ingest
    from creditgraph.settings import Settings

    result = simulate(SimulationConfig(people=2000, seed=3), tmp_path / "world")
    settings = Settings(home=tmp_path / "home")
    ingest(sorted(result.files.values()), settings)
    table = training_set(settings, "month")
    assert table.num_rows > 1000
    as_of = np.array(table["as_of"].to_pylist())
    first = min(as_of)
    # no default is known before the first applicants reach 90 days past due (a month to the first
    # due date, then 90 days): as of the first four months every label feature is zero
    early = as_of < date(first.year + (first.month + 4 > 12), (first.month + 4 - 1) % 12 + 1, 1)
    late = as_of >= date(first.year + 1, first.month, 1)
    assert early.sum() > 100 and late.sum() > 400
    for name in LABEL_FEATURES:
        values = np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=np.float64)
        assert (values[early] == 0).all(), name
        assert (values[late] > 0).mean() > 0.01, name
    contacts = np.asarray(table["defaulted_contacts"].to_numpy(zero_copy_only=False))
    assert contacts[late].sum() >= 20
