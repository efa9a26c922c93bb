"""Backtesting: score past applications, each with its person's features as of its own date.

The as-of rule is the feature store's: features "as of" a calendar date use only events strictly
before midnight at the start of that date in the business time zone. An application made at
``applied_at`` is scored with features as of the local calendar date of ``applied_at``, so every
event on or after ``applied_at`` (and, conservatively, earlier that same day) is left out.

Work is shared across applications: the database tables and the lake are loaded once, and the
features are built once per distinct as-of date, then joined to that date's applications. A file
of 100k applications over a year costs about 365 builds, not 100k.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.features.build import DEFAULT_HALF_LIFE_DAYS, assemble, relational_tables
from creditgraph.scoring.models import LoadedModel, ScoredRows
from creditgraph.settings import Settings

REQUIRED = ("person_id", "applied_at")
OPTIONAL = ("product", "amount", "term")
MAX_REASONS = 4
Progress = Callable[[int, int, int], None]  # (dates done, dates, applications done)


class BacktestError(ValueError):
    """A file or request the backtest cannot use; the text names the row, field and rule."""


# --- reading applications and labels (pure) -------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def parse_instant(value: object, zone: ZoneInfo) -> datetime | None:
    """A UTC instant from a timestamp, a date or ISO text; naive times are business-zone times."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def feature_date(instant: datetime, zone: ZoneInfo) -> date:
    """The as-of date of an application's features: the local calendar date it was made."""
    return instant.astimezone(zone).date()


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise BacktestError(f"{what}: missing column(s) {', '.join(missing)}")


def _instants(table: pa.Table, zone: ZoneInfo, what: str) -> list[datetime]:
    out = []
    for i, value in enumerate(table.column("applied_at").to_pylist()):
        instant = parse_instant(value, zone)
        if instant is None:
            rule = "required" if value is None or not str(value).strip() else "type"
            raise BacktestError(
                f"{what}: row {i + 1}: applied_at: {value!r} is not a date or time [{rule}]"
            )
        out.append(instant)
    return out


def _ids(table: pa.Table, what: str) -> list[str]:
    out = []
    for i, value in enumerate(table.column("person_id").to_pylist()):
        text = _text(value)
        if text is None:
            raise BacktestError(f"{what}: row {i + 1}: person_id: is required [required]")
        out.append(text)
    return out


@dataclass(frozen=True)
class Applications:
    """Checked applications in input order: the lender's ids, UTC instants, feature dates."""

    person_ids: list[str]
    applied_at: list[datetime]
    feature_dates: list[date]
    product: list[str | None]
    amount: list[str | None]
    term: list[str | None]

    def __len__(self) -> int:
        return len(self.person_ids)


def read_applications(table: pa.Table, timezone: str, what: str = "applications") -> Applications:
    """Applications from a table with person_id, applied_at and optionally product/amount/term."""
    _require(table, REQUIRED, what)
    zone = ZoneInfo(timezone)
    instants = _instants(table, zone, what)
    n = table.num_rows

    def optional(name: str) -> list[str | None]:
        if name not in table.column_names:
            return [None] * n
        return [_text(v) for v in table.column(name).to_pylist()]

    return Applications(
        _ids(table, what),
        instants,
        [feature_date(t, zone) for t in instants],
        optional("product"),
        optional("amount"),
        optional("term"),
    )


def _bad(value: object, row: int, what: str) -> int | None:
    text = _text(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("1", "true", "bad", "yes"):
        return 1
    if lowered in ("0", "false", "good", "no"):
        return 0
    raise BacktestError(f"{what}: row {row}: bad: {value!r} must be 0 or 1 [allowed]")


def match_labels(
    applications: Applications, labels: pa.Table, timezone: str, what: str = "labels"
) -> tuple[npt.NDArray[np.float64], int]:
    """Each application's outcome (1 bad, 0 good, NaN unknown) by person and applied_at, and
    how many label rows matched no application."""
    _require(labels, ("person_id", "applied_at", "bad"), what)
    zone = ZoneInfo(timezone)
    ids, instants = _ids(labels, what), _instants(labels, zone, what)
    outcome: dict[tuple[str, datetime], int] = {}
    for i, value in enumerate(labels.column("bad").to_pylist()):
        bad = _bad(value, i + 1, what)
        if bad is not None:
            outcome[(ids[i], instants[i])] = bad
    y = np.full(len(applications), np.nan)
    used: set[tuple[str, datetime]] = set()
    for i, key in enumerate(zip(applications.person_ids, applications.applied_at, strict=True)):
        found = outcome.get(key)
        if found is not None:
            y[i] = found
            used.add(key)
    return y, len(outcome) - len(used)


# --- features as of each application's date ----------------------------------------------------


class FeatureSource:
    """Loads the database tables and the lake once; builds everyone's features as of a date.

    ``at(day)`` gives exactly what ``features.service.compute_features(settings, day)`` gives
    (same functions, same engines), without reloading the inputs for every date.
    """

    def __init__(self, settings: Settings, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
        from creditgraph.features.inputs import database_tables, duckdb_inputs
        from creditgraph.store.db import migrated_engine

        with migrated_engine(settings.database_url) as db:
            self.tables = database_tables(db)
        self.backend, self.inputs = duckdb_inputs(
            settings.lake_dir, self.tables, memory_limit=settings.duckdb_memory_limit
        )
        self.timezone = settings.timezone
        self.half_life_days = half_life_days

    @property
    def persons(self) -> pa.Array:
        return self.tables["persons"]["person_id"].combine_chunks()

    def at(self, day: date) -> pa.Table:
        tables = relational_tables(
            self.backend, self.inputs, day, self.timezone, self.half_life_days
        )
        return assemble(tables, self.tables["outcomes"], day, self.timezone).features


def point_in_time_features(
    build_at: Callable[[date], pa.Table],
    persons: list[str],
    days: list[date],
    progress: Progress | None = None,
) -> pa.Table:
    """One row per application, in input order: its person's features as of its own date.

    ``features_as_of`` is null where the person had no features that day (unknown, or not yet
    registered). One build per distinct date.
    """
    rows = pa.table(
        {
            "_row": pa.array(np.arange(len(persons), dtype=np.int64)),
            "person_id": pa.array(persons, pa.string()),
            "_day": pa.array(days, pa.date32()),
        }
    )
    distinct = sorted(set(days))
    parts = []
    done = 0
    for i, day in enumerate(distinct):
        these = rows.filter(pc.equal(rows["_day"], pa.scalar(day, pa.date32())))
        built = build_at(day)
        built = built.filter(pc.is_in(built["person_id"], value_set=these["person_id"]))
        built = built.rename_columns(
            ["features_as_of" if c == "as_of" else c for c in built.column_names]
        )
        parts.append(these.drop_columns(["_day"]).join(built, "person_id", join_type="left outer"))
        done += these.num_rows
        if progress:
            progress(i + 1, len(distinct), done)
    if not parts:
        return rows.drop_columns(["_day"]).append_column(
            "features_as_of", pa.array([], pa.date32())
        )
    table = pa.concat_tables(parts, promote_options="default").sort_by("_row")
    return table.drop_columns(["_row"])


# --- the decision, with no records stored ------------------------------------------------------


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
    values: Mapping[str, Any], scored: Mapping[str, Any], sources: int, policy: Any
) -> dict[str, Any]:
    """The decision core's applicant context, built exactly as the decision service builds it."""
    from creditgraph.decision.context import raw_context

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
    from creditgraph.decision.config_files import load_catalogue, load_config, load_policy
    from creditgraph.decision.engine import decide
    from creditgraph.decision.errors import DecisionInputError

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


def _application(applications: Applications, i: int, products: Any) -> Any:
    from creditgraph.decision.engine import Application
    from creditgraph.decision.errors import DecisionInputError

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


# --- validation against outcomes (pure) --------------------------------------------------------


def validation(
    y: npt.NDArray[np.float64], pd: npt.NDArray[np.float64], grade: list[str | None]
) -> dict[str, Any]:
    """AUC (with its DeLong interval), KS and calibration by grade on the labelled rows."""
    from creditgraph.scoring import metrics as m

    known = ~np.isnan(y) & ~np.isnan(pd)
    labels, risk = y[known].astype(np.int64), pd[known]
    out: dict[str, Any] = {"labelled": int(known.sum()), "bads": int(labels.sum())}
    if 0 < labels.sum() < labels.size:
        out |= {"auc": m.auc(labels, risk), "auc_low": None, "auc_high": None}
        out["ks"] = m.ks_statistic(labels, risk)
        try:  # DeLong's interval needs two bads and two goods
            est = m.auc_ci(labels, risk)
            out |= {"auc_low": est.lower, "auc_high": est.upper}
        except ValueError:
            pass
    else:
        out |= {"auc": None, "auc_low": None, "auc_high": None, "ks": None}
    grades = np.array([g or "" for g in grade], dtype=object)[known]
    rows = []
    for g in sorted({str(x) for x in grades}):
        mask = grades == g
        rows.append(
            {
                "grade": g,
                "applications": int(mask.sum()),
                "bads": int(labels[mask].sum()),
                "expected_bad_rate": float(risk[mask].mean()),
                "observed_bad_rate": float(labels[mask].mean()),
            }
        )
    out["calibration_by_grade"] = rows
    return out


# --- the backtest end to end -------------------------------------------------------------------


@dataclass
class BacktestResult:
    model_id: str
    family: str
    variant: str
    rows: pa.Table  # one per application, in input order
    scored: int
    without_features: int
    feature_dates: int
    seconds: float
    grades: dict[str, int]
    outcomes: dict[str, int] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    unmatched_labels: int = 0
    pd: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    score: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    y: npt.NDArray[np.float64] | None = None
    record: Any = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (no rows)."""
        n = self.rows.num_rows
        return {
            "model_id": self.model_id,
            "family": self.family,
            "variant": self.variant,
            "applications": n,
            "scored": self.scored,
            "without_features": self.without_features,
            "feature_dates": self.feature_dates,
            "seconds": round(self.seconds, 3),
            "applications_per_second": round(n / self.seconds, 1) if self.seconds else None,
            "grades": self.grades,
            "decisions": self.outcomes or None,
            "validation": self.validation,
            "unmatched_labels": self.unmatched_labels if self.validation is not None else None,
        }


def pseudonyms(settings: Settings, ids: list[str], known: pa.Array) -> list[str]:
    """The lender's own ids mapped at the door (a known pseudonym is taken as it is)."""
    from creditgraph.contracts.schema import Namespace
    from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key

    raw = pa.array(ids, pa.string())
    mapped = Pseudonymiser(load_or_create_key(settings.key_file)).column(Namespace.PERSON, raw)
    out: list[str] = pc.if_else(pc.is_in(raw, value_set=known), raw, mapped).to_pylist()
    return out


def _scores_columns(scored: ScoredRows, where: npt.NDArray[np.int64], n: int) -> dict[str, Any]:
    score = np.full(n, np.nan)
    pd = np.full(n, np.nan)
    score[where], pd[where] = scored.score, scored.pd
    grade: list[str | None] = [None] * n
    texts: dict[str, list[str | None]] = {}
    for k in range(1, MAX_REASONS + 1):
        for part in ("code", "zh", "en"):
            texts[f"reason_{k}_{part}"] = [None] * n
    for j, i in enumerate(where.tolist()):
        grade[i] = scored.grade[j]
        for k, reason in enumerate(scored.reasons[j][:MAX_REASONS], start=1):
            for part in ("code", "zh", "en"):
                texts[f"reason_{k}_{part}"][i] = reason[part]
    return {
        "score": pa.array(score, from_pandas=True),
        "pd": pa.array(pd, from_pandas=True),
        "grade": pa.array(grade, pa.string()),
        **{name: pa.array(values, pa.string()) for name, values in texts.items()},
    }


def run_backtest(
    settings: Settings,
    table: pa.Table,
    *,
    model_id: str | None = None,
    decide: bool = False,
    labels: pa.Table | None = None,
    progress: Progress | None = None,
    source: FeatureSource | None = None,
) -> BacktestResult:
    """Score every application with features as of its own date; decide and validate on request.

    Nothing is stored: no score rows, no decision records.
    """
    from creditgraph.scoring import registry
    from creditgraph.store.db import migrated_engine

    started = time.perf_counter()
    applications = read_applications(table, settings.timezone)
    y, unmatched = (None, 0)
    if labels is not None:
        y, unmatched = match_labels(applications, labels, settings.timezone)
    with migrated_engine(settings.database_url) as db:
        record = registry.get(db, model_id) if model_id else registry.champion(db)
    model = LoadedModel(record)
    source = source or FeatureSource(settings)
    people = pseudonyms(settings, applications.person_ids, source.persons)
    features = point_in_time_features(source.at, people, applications.feature_dates, progress)
    has = np.asarray(features["features_as_of"].is_valid().to_numpy(zero_copy_only=False))
    where = np.flatnonzero(has).astype(np.int64)
    n = len(applications)
    usable = features.take(pa.array(where))
    if where.size:
        scored = model.score_table(usable)
    else:
        scored = ScoredRows(record.id, np.zeros(0), np.zeros(0), [], [])
    columns: dict[str, Any] = {
        "row": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "person_id": pa.array(applications.person_ids, pa.string()),
        "applied_at": pa.array(applications.applied_at, pa.timestamp("us", tz="UTC")),
        "features_as_of": features["features_as_of"],
        "model_id": pa.array([record.id] * n, pa.string()),
        "status": pa.array(["scored" if h else "no_features" for h in has], pa.string()),
        **_scores_columns(scored, where, n),
    }
    outcomes: dict[str, int] = {}
    if decide:
        made = decide_rows(applications, usable, scored, where, load_consents(settings))
        made["decision_error"] = [
            made["decision_error"][i] if has[i] else "no features as of applied_at"
            for i in range(n)
        ]
        for name in DECISION_COLUMNS:
            columns[name] = pa.array(made[name], pa.string())
        for value in columns["outcome"].to_pylist():
            if value is not None:
                outcomes[value] = outcomes.get(value, 0) + 1
    rows = pa.table(columns)
    pd = rows["pd"].to_numpy(zero_copy_only=False).astype(np.float64)
    grade = rows["grade"].to_pylist()
    counts: dict[str, int] = {}
    for g in scored.grade:
        counts[g] = counts.get(g, 0) + 1
    result = BacktestResult(
        model_id=record.id,
        family=record.family,
        variant=record.variant,
        rows=rows,
        scored=int(where.size),
        without_features=int(n - where.size),
        feature_dates=len(set(applications.feature_dates)),
        seconds=0.0,
        grades=dict(sorted(counts.items())),
        outcomes=dict(sorted(outcomes.items())),
        unmatched_labels=unmatched,
        pd=pd,
        score=rows["score"].to_numpy(zero_copy_only=False).astype(np.float64),
        y=y,
        record=record,
    )
    if y is not None:
        result.validation = validation(y, pd, grade)
    result.seconds = time.perf_counter() - started
    return result


def write_validation_report(result: BacktestResult, path: Any) -> Any:
    """The validation report (the training report's machinery) on the labelled backtest rows."""
    from creditgraph.scoring.report import ModelInfo, ReportInputs, Sample, write_report

    if result.y is None:
        raise BacktestError("--report needs --labels: the report measures against outcomes")
    keep = ~np.isnan(result.pd)
    if not keep.any():
        raise BacktestError("no application could be scored, so there is nothing to report")
    applied = result.rows["applied_at"].to_pylist()
    dates = [applied[i].date().isoformat() for i in np.flatnonzero(keep)]
    record = result.record
    info = ModelInfo(
        model_id=result.model_id,
        version=result.model_id,
        family=result.family,
        created_at=record.created_at if record is not None else datetime.now(UTC),
        feature_set_version=record.feature_set_version if record is not None else "1",
        training_data_hash=record.training_data_sha256 if record is not None else "-",
    )
    sample = Sample(
        pd=result.pd[keep],
        y_bad=result.y[keep],
        score=result.score[keep],
        period=f"backtest {min(dates)} .. {max(dates)}",
    )
    return write_report(ReportInputs(model=info, out_of_time=sample), path)
