"""Published repayment-schedule vectors, reproduced to the fen.

Two sources: the project's own fixture (``tests/fixtures/schedule_vectors.json``, always run)
and the shared research file ``../shared/vectors/repayment_schedules.json`` (skipped when absent),
read in its own format so that a transcription error in the fixture cannot hide a mismatch.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from creditgraph.servicing import (
    DayCount,
    Frequency,
    InstalmentFit,
    Method,
    RateBasis,
    RoundingPolicy,
    Schedule,
    ScheduleRequest,
    TotalsConvention,
    accrued_interest,
    all_in_rate,
    annuity_payment,
    generate_schedule,
    quote_totals,
    schedule_all_in_rate,
)
from creditgraph.servicing.daycount import periodic_rate

FIXTURE = Path(__file__).parent / "fixtures" / "schedule_vectors.json"
SHARED_VECTORS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "repayment_schedules.json"
)
START = date(2024, 1, 1)


# -- the project's fixture ---------------------------------------------------------------------


def _rounding(spec: dict[str, Any] | None) -> RoundingPolicy:
    if spec is None:
        return RoundingPolicy()
    unit = spec.get("unit", "0.01")
    return RoundingPolicy(
        unit=None if unit is None else Decimal(unit),
        mode=spec.get("mode", ROUND_HALF_UP),
        payment_unit=Decimal(spec["payment_unit"]) if "payment_unit" in spec else None,
        payment_mode=spec.get("payment_mode"),
        fit=InstalmentFit(spec.get("fit", "round")),
    )


def _request(spec: dict[str, Any]) -> ScheduleRequest:
    optional: dict[str, Any] = {}
    for name in ("frequency", "day_count", "grace", "grace_periods"):
        if name in spec:
            optional[name] = spec[name]
    for name in ("fee_per_period", "upfront_fee", "instalment"):
        if name in spec:
            optional[name] = Decimal(spec[name])
    if "first_due" in spec:
        optional["first_due"] = date.fromisoformat(spec["first_due"])
    return ScheduleRequest(
        principal=Decimal(spec["principal"]),
        annual_rate=Decimal(spec["annual_rate"]),
        periods=spec["periods"],
        method=Method(spec["method"]),
        start=date.fromisoformat(spec.get("start", START.isoformat())),
        rounding=_rounding(spec.get("rounding")),
        **optional,
    )


def _shown(value: Decimal, unit: str | None) -> Decimal:
    return value if unit is None else value.quantize(Decimal(unit), ROUND_HALF_UP)


def _check_expectations(request: ScheduleRequest, expect: dict[str, Any]) -> None:
    schedule = generate_schedule(request)
    unit = expect.get("display_unit")
    if "level_payment" in expect:
        assert schedule.level_payment is not None
        assert _shown(schedule.level_payment, unit) == Decimal(expect["level_payment"])
    for wanted in expect.get("rows", []):
        row = schedule.rows[wanted["n"] - 1]
        for name, value in wanted.items():
            if name != "n":
                got = _shown(getattr(row, name), unit)
                assert got == Decimal(value), (wanted["n"], name, got, value)
    if "payment_decrement" in expect:
        decrement = schedule.rows[0].payment - schedule.rows[1].payment
        assert decrement == Decimal(expect["payment_decrement"])
    if "last_payment_residue" in expect:
        assert schedule.level_payment is not None
        residue = schedule.rows[-1].payment - schedule.level_payment
        assert residue == Decimal(expect["last_payment_residue"])
    for convention, wanted_totals in expect.get("totals", {}).items():
        totals = quote_totals(request, TotalsConvention(convention))
        for name, value in wanted_totals.items():
            got = _shown(getattr(totals, name), unit)
            assert got == Decimal(value), (convention, name, got, value)
    if "all_in_rate" in expect:
        spec = expect["all_in_rate"]
        rate = schedule_all_in_rate(schedule, basis=RateBasis(spec["basis"]), places=spec["places"])
        assert rate == Decimal(spec["value"])


def _fixture_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["vectors"]
    return vectors


@pytest.mark.parametrize("vector", _fixture_vectors(), ids=lambda v: str(v["id"]))
def test_fixture_vector(vector: dict[str, Any]) -> None:
    assert vector["source"], "every vector keeps its source"
    if "annuity" in vector:
        spec = vector["annuity"]
        payment = annuity_payment(
            Decimal(spec["principal"]),
            Decimal(spec["annual_rate"]),
            spec["periods"],
            unit=Decimal(spec["unit"]),
            rounding=spec["mode"],
        )
        assert payment == Decimal(spec["expected"])
    if "accrual" in vector:
        spec = vector["accrual"]
        interest = accrued_interest(
            Decimal(spec["principal"]),
            Decimal(spec["annual_rate"]),
            date.fromisoformat(spec["start"]),
            date.fromisoformat(spec["end"]),
            DayCount(spec["day_count"]),
        )
        assert interest == Decimal(spec["expected"])
    if "request" in vector:
        _check_expectations(_request(vector["request"]), vector["expect"])


def test_fixture_covers_every_shared_vector_id() -> None:
    ids = {v["id"] for v in _fixture_vectors()}
    assert len(ids) == len(_fixture_vectors())
    if SHARED_VECTORS.exists():
        shared = {v["id"] for v in json.loads(SHARED_VECTORS.read_text(encoding="utf-8"))}
        missing = {i for i in shared if not any(f.startswith(i) for f in ids)}
        assert not missing, f"shared vectors without a fixture entry: {sorted(missing)}"


# -- the shared research file, read in its own format -----------------------------------------


def _money(value: float | int | str) -> Decimal:
    """A JSON number from the shared file as an exact amount (JSON floats print shortest form)."""
    return Decimal(str(value))


def _plain(principal: Any, rate: Any, months: int, method: Method, **kw: Any) -> ScheduleRequest:
    kw.setdefault("start", START)
    return ScheduleRequest(
        principal=_money(principal), annual_rate=_money(rate), periods=months, method=method, **kw
    )


def _total_convention(vector: dict[str, Any]) -> TotalsConvention:
    """Which total the page printed, from the vector's own convention note."""
    note = vector.get("convention", "")
    if note.startswith("total = rounded payment"):
        return TotalsConvention.PAYMENT_TIMES_N
    return TotalsConvention.EXACT


def _check_calculator(vector: dict[str, Any], method: Method) -> None:
    """Chinese bank-calculator pages: 等额本息 / 等额本金 at annual/12."""
    request = _plain(vector["principal"], vector["annual_rate"], vector["months"], method)
    schedule = generate_schedule(request)
    expected = vector["expected"]
    if "first_payment" in expected:
        assert schedule.rows[0].payment == _money(expected["first_payment"])
    for wanted in expected.get("first_rows", []):
        row = schedule.rows[wanted["n"] - 1]
        assert row.interest == _money(wanted["interest"])
        assert row.principal == _money(wanted["principal"])
    for n, payment in enumerate(expected.get("first_six_payments", []), start=1):
        assert schedule.rows[n - 1].payment == _money(payment)
    if "monthly_decrement" in expected:
        decrement = schedule.rows[0].payment - schedule.rows[1].payment
        assert decrement == _money(expected["monthly_decrement"])
    convention = _total_convention(vector)
    totals = quote_totals(request, convention)
    if "total_interest" in expected:
        assert totals.interest == _money(expected["total_interest"])
    if "total_repaid" in expected:
        assert totals.payment == _money(expected["total_repaid"])
    if "total_interest_alt_answer" in expected:
        alt = quote_totals(request, TotalsConvention.PAYMENT_TIMES_N)
        assert alt.interest == _money(expected["total_interest_alt_answer"])


def _check_fineract(vector: dict[str, Any]) -> None:
    params, expected = vector["params"], vector["expected"]
    biweekly = params.get("period") == "2 weeks"
    frequency = Frequency.BIWEEKLY if biweekly else Frequency.MONTHLY
    # Fineract's 360-day year with 30-day months is 30/360; its 364-day year over fortnights is
    # exactly annual/26, the periodic convention.
    day_counts = [DayCount.PERIODIC] if biweekly else [DayCount.PERIODIC, DayCount.THIRTY_360]
    rate = periodic_rate(_money(vector["annual_rate"]), frequency.periods_per_year).fraction
    assert round(float(rate), 12) == pytest.approx(expected["rate_factor"], abs=1e-12)
    for day_count in day_counts:
        request = _plain(
            vector["principal"],
            vector["annual_rate"],
            params["periods"],
            Method.EQUAL_INSTALLMENT,
            frequency=frequency,
            day_count=day_count,
            rounding=RoundingPolicy(fit=InstalmentFit.BALANCE_LAST),
        )
        schedule = generate_schedule(request)
        assert schedule.level_payment == _money(expected["emi"])
        assert [r.interest for r in schedule.rows] == [_money(x) for x in expected["interest"]]
        assert [r.principal for r in schedule.rows] == [_money(x) for x in expected["principal"]]
        closing = [r.closing_principal for r in schedule.rows]
        assert closing == [_money(x) for x in expected["balance"]]
        if "last_payment" in expected:
            assert schedule.rows[-1].payment == _money(expected["last_payment"])
    if biweekly:
        plain = generate_schedule(
            _plain(
                vector["principal"],
                vector["annual_rate"],
                params["periods"],
                Method.EQUAL_INSTALLMENT,
                frequency=frequency,
            )
        )
        assert plain.level_payment == Decimal("33.58")  # the naive rounded PMT the note warns of


def _frappe_shown(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1), ROUND_HALF_UP)


def _check_frappe_loan(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    carry_exact = RoundingPolicy.exact(payment_unit=Decimal(1), payment_mode=ROUND_CEILING)
    request = _plain(
        vector["principal"],
        vector["annual_rate"],
        vector["months"],
        Method.EQUAL_INSTALLMENT,
        rounding=carry_exact,
    )
    schedule = generate_schedule(request)
    assert len(schedule.rows) == expected["periods"]
    assert schedule.level_payment == _money(expected["emi"])
    for index, (principal, interest, balance) in expected[
        "rows_idx_principal_interest_balance"
    ].items():
        row = schedule.rows[int(index)]
        shown = [_frappe_shown(x) for x in (row.principal, row.interest, row.closing_principal)]
        assert shown == [_money(principal), _money(interest), _money(balance)]
    assert _frappe_shown(schedule.totals.interest) == _money(expected["total_interest"])
    assert _frappe_shown(schedule.totals.payment) == _money(expected["total_payment"])
    fixed = expected["fixed_14000"]
    fixed_request = _plain(
        vector["principal"],
        vector["annual_rate"],
        fixed["periods"],
        Method.EQUAL_INSTALLMENT,
        instalment=Decimal(14000),
        rounding=RoundingPolicy.exact(),
    )
    fixed_totals = generate_schedule(fixed_request).totals
    assert _frappe_shown(fixed_totals.interest) == _money(fixed["total_interest"])
    assert _frappe_shown(fixed_totals.payment) == _money(fixed["total_payment"])


def _check_frappe_docs(vector: dict[str, Any]) -> None:
    expected, params = vector["expected"], vector["params"]
    principal, rate = _money(vector["principal"]), _money(vector["annual_rate"])
    emi = annuity_payment(
        principal, rate, vector["months"], unit=Decimal(1), rounding=ROUND_CEILING
    )
    assert emi == _money(expected["emi"])
    start = date(2025, 2, 27)  # any non-leap year: 28 days to 27 March, then 31
    assert params["first_payment_on_disbursement_date"] is True
    request = _plain(
        principal,
        rate,
        vector["months"],
        Method.EQUAL_INSTALLMENT,
        day_count=DayCount.ACT_365,
        start=start,
        first_due=start,
        instalment=emi,
    )
    rows = generate_schedule(request).rows
    previous = start
    for row, days, (principal_part, interest, balance) in zip(
        rows, params["row_days"], expected["rows"], strict=False
    ):
        assert (row.due_date - previous).days == days
        previous = row.due_date
        assert row.principal == _money(principal_part)
        assert row.interest == _money(interest)
        assert row.closing_principal == _money(balance)


def _pmt(principal: float, rate: float, periods: int, begin: bool) -> Decimal:
    """numpy-financial's pmt, independently, for the OCA tests that assert against it."""
    payment = principal * rate / (1 - (1 + rate) ** -periods)
    if begin:
        payment /= 1 + rate
    return Decimal(repr(payment)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _check_oca_annuity(vector: dict[str, Any]) -> None:
    rate = vector["annual_rate"] / 12
    for begin in (False, True):
        request = _plain(
            vector["principal"],
            vector["annual_rate"],
            vector["months"],
            Method.EQUAL_INSTALLMENT,
            first_due=START if begin else None,
        )
        schedule = generate_schedule(request)
        expected = _pmt(vector["principal"], rate, vector["months"], begin)
        assert schedule.level_payment == expected
        assert schedule.rows[-1].closing_principal == 0


def _check_oca_residue(vector: dict[str, Any]) -> None:
    request = _plain(
        vector["principal"], vector["annual_rate"], vector["months"], Method.EQUAL_INSTALLMENT
    )
    schedule = generate_schedule(request)
    assert schedule.level_payment is not None
    residue = schedule.rows[-1].payment - schedule.level_payment
    assert residue == _money(vector["expected"]["residual_in_last_period"])


def _check_flat_apr(vector: dict[str, Any]) -> None:
    principal = _money(vector["principal"])
    periods = vector["params"]["periods"]
    flat = Decimal(repr(vector["params"]["flat_rate_per_period"]))
    fee = (principal * flat).quantize(Decimal("0.01"), ROUND_HALF_UP)
    request = _plain(principal, 0, periods, Method.EQUAL_PRINCIPAL, fee_per_period=fee)
    schedule = generate_schedule(request)
    expected = vector["expected"]
    if "payment" in expected:
        assert schedule.rows[0].payment == _money(expected["payment"])
    if "payment_approx" in expected:
        assert schedule.rows[0].payment.quantize(Decimal(1)) == _money(expected["payment_approx"])
    if "nominal_apr_irr_x12" in expected:
        wanted = _money(expected["nominal_apr_irr_x12"])
        places = -wanted.as_tuple().exponent  # type: ignore[operator]
        assert schedule_all_in_rate(schedule, places=places) == wanted
        flows = [principal] + [-schedule.rows[0].payment] * periods
        assert all_in_rate(flows, places=places) == wanted


def _check_daycount(vector: dict[str, Any]) -> None:
    params, expected = vector["params"], vector["expected"]
    assert params["days_in_year"] == 360
    annual = _money(params["rate_whole_term"]) * params["days_in_year"] / params["term_days"]
    start = date(2024, 1, 1)
    end = start + timedelta(days=params["term_days"])
    interest = accrued_interest(_money(vector["principal"]), annual, start, end, DayCount.ACT_360)
    assert interest == _money(expected["interest"])
    defect = (interest * 365 / 360).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert defect == _money(expected["buggy_actual"])


def _check_interest_first(vector: dict[str, Any]) -> None:
    request = _plain(
        vector["principal"], vector["annual_rate"], vector["months"], Method.INTEREST_FIRST
    )
    schedule: Schedule = generate_schedule(request)
    expected = vector["expected"]
    assert schedule.rows[0].payment == _money(expected["first_payment"])
    assert schedule.rows[-1].payment == _money(expected["last_payment"])
    assert schedule.totals.interest == _money(expected["total_interest"])


CHECKERS = {
    "equal_installment": lambda v: _check_calculator(v, Method.EQUAL_INSTALLMENT),
    "equal_principal": lambda v: _check_calculator(v, Method.EQUAL_PRINCIPAL),
    "equal_installment_daily_model": _check_fineract,
    "equal_installment_ceil_emi": _check_frappe_loan,
    "equal_installment_ceil_emi_actual365": _check_frappe_docs,
    "equal_installment_end_and_begin": _check_oca_annuity,
    "equal_installment_rounded_payment": _check_oca_residue,
    "flat_to_apr": _check_flat_apr,
    "daycount_whole_term": _check_daycount,
    "interest_first_bullet": _check_interest_first,
}


def _shared_vectors() -> list[dict[str, Any]]:
    if not SHARED_VECTORS.exists():
        return []
    vectors: list[dict[str, Any]] = json.loads(SHARED_VECTORS.read_text(encoding="utf-8"))
    return vectors


def _shared_params() -> list[Any]:
    vectors = _shared_vectors()
    if not vectors:
        reason = f"{SHARED_VECTORS} is not available"
        return [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(v, id=str(v["id"])) for v in vectors]


@pytest.mark.shared
@pytest.mark.parametrize("vector", _shared_params())
def test_shared_vector(vector: dict[str, Any]) -> None:
    checker = CHECKERS.get(vector["method"])
    assert checker is not None, f"no checker for method {vector['method']!r} ({vector['id']})"
    checker(vector)


@pytest.mark.shared
def test_shared_vectors_present() -> None:
    if not SHARED_VECTORS.exists():
        pytest.skip(f"{SHARED_VECTORS} is not available")
    assert _shared_vectors(), "the shared vector file is empty"
