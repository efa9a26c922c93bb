"""``model train``: point-in-time training set, out-of-time split, scorecard and challenger,
each with and without graph features (the network lift), validation reports, registration.

Each family is also fitted without any social feature and registered as its ``no_social``
variant: the model that scores applicants who withhold the credit_assessment consent.

Samples: applications whose outcome was observed before the training cut-off (and applied on
or after ``train_from`` when given). The latest application months (a quarter of them, or the
number or share asked for) are held out as the out-of-time sample (the later period a model will
actually meet); the earlier months are split 70/30 (stratified, seeded) into development and
test. The recent population is everyone's features as of the cut-off, unlabelled: the PSI of
the score and of every variable compares it with development.

Lifecycle: the specification (variables, binning trends and ``C`` of the scorecard; features and
hyper-parameters of the challenger) is chosen on development, judged on test and out of time,
and then **refitted on every labelled application up to the cut-off**, optionally weighted by
recency. The refit is what is registered and deployed; the registry entry and the report keep
both: the development fit's development/test/out-of-time metrics and the refit's in-sample
metrics, each with its rows and window. ``refit=False`` deploys the development fit (the old
behaviour).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.model_selection import train_test_split

from creditgraph.features.build import FEATURE_SET_VERSION
from creditgraph.features.catalogue import GRAPH_FAMILIES, all_features, social_feature_names
from creditgraph.features.training import REASONS as REASON_TEXT
from creditgraph.scoring import registry
from creditgraph.scoring.card_codec import card_to_dict
from creditgraph.scoring.challenger import Challenger
from creditgraph.scoring.metrics import auc_ci, paired_auc_difference
from creditgraph.scoring.models import challenger_reason_text, points_from_pd
from creditgraph.scoring.report import (
    LiftSample,
    ModelInfo,
    NetworkLift,
    RefitSummary,
    ReportInputs,
    Sample,
    write_report,
)
from creditgraph.scoring.scorecard import Scorecard

NOT_INPUTS = frozenset({"community"})  # a community number is an identifier, not a quantity
CATEGORICAL = ("segment", "region_tier")
GROUPS = ("segment", "region_tier", "gender")
OOT_SHARE = 0.25
TEST_SHARE = 0.3
MIN_ROWS = 200
DAYS_PER_MONTH = 365.25 / 12

Progress = Callable[[str], None]


class TrainingError(ValueError):
    """Training cannot go ahead (too few labelled applications, one class only, ...)."""


@dataclass(frozen=True)
class Lifecycle:
    """How the samples are cut and which fit is deployed (``model train`` options)."""

    oot_months: int | None = None  # the last N application months are out of time
    oot_share: float | None = None  # or this share of the months (default OOT_SHARE)
    train_from: date | None = None  # applications before this date are left out
    recency_halflife_months: float | None = None  # sample weight halves every H months back
    refit: bool = True  # deploy the chosen specification refitted on all labelled data

    def check(self) -> None:
        if self.oot_months is not None and self.oot_share is not None:
            raise TrainingError("give --oot-months or --oot-share, not both")
        if self.oot_months is not None and self.oot_months < 0:
            raise TrainingError(f"--oot-months {self.oot_months} must be 0 or more")
        if self.oot_share is not None and not 0 <= self.oot_share < 1:
            raise TrainingError(f"--oot-share {self.oot_share} must be in [0, 1)")
        h = self.recency_halflife_months
        if h is not None and not h > 0:
            raise TrainingError(f"--recency-halflife-months {h} must be more than 0")

    def to_json(self) -> dict[str, Any]:
        return {
            "oot_months": self.oot_months,
            "oot_share": self.oot_share
            if self.oot_share is not None or self.oot_months is not None
            else OOT_SHARE,
            "train_from": str(self.train_from) if self.train_from else None,
            "recency_halflife_months": self.recency_halflife_months,
            "refit": self.refit,
        }


@dataclass
class Split:
    development: pa.Table
    test: pa.Table
    out_of_time: pa.Table
    oot_from: date | None


@dataclass
class FamilyResult:
    """One model family: the model with every feature, and the same family without graph ones."""

    family: str
    with_graph: Any
    without_graph: Any
    pd: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    pd_without: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    deployed: Any = None  # the refit (or ``with_graph`` when not refitted)
    refit: dict[str, Any] | None = None  # the refit's rows, window and in-sample metrics


@dataclass
class TrainingResult:
    as_of: date
    rows: dict[str, int]
    records: dict[str, registry.ModelRecord]
    reports: dict[str, Path]
    metrics: dict[str, dict[str, Any]]
    # the no_social variant of each family: versions, reports and metrics
    no_social: dict[str, registry.ModelRecord] = field(default_factory=dict)
    no_social_reports: dict[str, Path] = field(default_factory=dict)
    no_social_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # challenger minus scorecard, AUC on the same people, paired DeLong interval, per sample
    challenger_vs_scorecard: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    lifecycle: dict[str, Any] = field(default_factory=dict)
    # applications not used, by reason (not matured, before --train-from, no features, ...)
    excluded: dict[str, int] = field(default_factory=dict)


def feature_columns(table: pa.Table) -> tuple[list[str], list[str]]:
    """(own, graph) model inputs present in ``table``, in catalogue order."""
    family = {f.name: f.family for f in all_features()}
    names = list(family)
    present = [n for n in names if n in table.column_names and n not in NOT_INPUTS]
    own = [n for n in present if family[n] not in GRAPH_FAMILIES]
    graph = [n for n in present if family[n] in GRAPH_FAMILIES]
    return own, graph


def _instant(day: date) -> pa.Scalar:
    return pa.scalar(datetime(day.year, day.month, day.day), pa.timestamp("us"))


def labelled(training: pa.Table, as_of: date, train_from: date | None = None) -> pa.Table:
    """Applications before the cut-off whose outcome was observed before it too (and applied on
    or after ``train_from``)."""
    return training.filter(_labelled_mask(training, as_of, train_from))


def _labelled_mask(training: pa.Table, as_of: date, train_from: date | None) -> pa.Array:
    cut = _instant(as_of)
    observed = pc.cast(training["observed_at"], pa.timestamp("us"))
    applied = pc.cast(training["applied_at"], pa.timestamp("us"))
    keep = pc.and_(pc.less(observed, cut), pc.less(applied, cut))
    if train_from is not None:
        keep = pc.and_(keep, pc.greater_equal(applied, _instant(train_from)))
    return pc.fill_null(keep, False)


def exclusions(training: pa.Table, as_of: date, train_from: date | None) -> dict[str, int]:
    """Why rows of the training set are not used: counted, so that nothing goes silently."""
    cut = _instant(as_of)
    applied = pc.cast(training["applied_at"], pa.timestamp("us"))
    observed = pc.cast(training["observed_at"], pa.timestamp("us"))
    after = pc.fill_null(pc.greater_equal(applied, cut), False)
    early = (
        pc.fill_null(pc.less(applied, _instant(train_from)), False)
        if train_from is not None
        else pa.array([False] * training.num_rows)
    )
    before = pc.and_(pc.invert(after), pc.invert(early))
    immature = pc.and_(before, pc.invert(pc.fill_null(pc.less(observed, cut), False)))
    return {
        "applied_on_or_after_as_of": int(pc.sum(after).as_py() or 0),
        "applied_before_train_from": int(pc.sum(early).as_py() or 0),
        "outcome_not_observed_by_as_of": int(pc.sum(immature).as_py() or 0),
    }


def _months(table: pa.Table) -> list[date]:
    """Each row's application month (the as-of may be the month's first day or its own day)."""
    return [d.replace(day=1) for d in table["as_of"].to_pylist()]


def split(
    table: pa.Table, seed: int, *, oot_months: int | None = None, oot_share: float | None = None
) -> Split:
    """Out-of-time: the latest application months (a quarter of them unless ``oot_months`` or
    ``oot_share`` says otherwise); the rest 70/30 development/test."""
    row_months = _months(table)
    months = sorted(set(row_months))
    if oot_months is not None:
        n_oot = min(oot_months, max(len(months) - 1, 0))
    else:
        share = OOT_SHARE if oot_share is None else oot_share
        n_oot = round(len(months) * share) if len(months) >= 4 else 0
    oot_from = months[-n_oot] if n_oot else None
    if oot_from is not None:
        is_oot = pa.array([m >= oot_from for m in row_months], pa.bool_())
        out_of_time, earlier = table.filter(is_oot), table.filter(pc.invert(is_oot))
    else:
        out_of_time, earlier = table.slice(0, 0), table
    y = np.asarray(earlier["label_defaulted"].to_numpy(zero_copy_only=False), dtype=np.int64)
    idx = np.arange(earlier.num_rows)
    dev_idx, test_idx = train_test_split(
        idx, test_size=TEST_SHARE, random_state=seed, stratify=y if 0 < y.sum() < y.size else None
    )
    return Split(
        earlier.take(np.sort(dev_idx)), earlier.take(np.sort(test_idx)), out_of_time, oot_from
    )


def _y(table: pa.Table) -> npt.NDArray[np.int64]:
    return np.asarray(table["label_defaulted"].to_numpy(zero_copy_only=False), dtype=np.int64)


def _frame(table: pa.Table, columns: Sequence[str]) -> Any:
    return table.select(list(columns)).to_pandas()


def data_hash(table: pa.Table) -> str:
    """SHA-256 of the training rows as Arrow IPC: the exact data a version learnt from."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


Weights = npt.NDArray[np.float64] | None


def recency_weights(table: pa.Table, as_of: date, halflife_months: float | None) -> Weights:
    """Per row 0.5 ** (months from the application to ``as_of`` / halflife); None: unweighted."""
    if halflife_months is None:
        return None
    days = np.array(
        [(as_of - a.date()).days for a in table["applied_at"].to_pylist()], dtype=np.float64
    )
    return np.asarray(0.5 ** (np.maximum(days, 0.0) / DAYS_PER_MONTH / halflife_months))


def _weighted(weights: Weights) -> dict[str, Any]:
    return {} if weights is None else {"sample_weight": weights}


def _fit(
    family: str, columns: Sequence[str], dev: pa.Table, seed: int, weights: Weights = None
) -> Any:
    if family == "scorecard":
        cats = [c for c in CATEGORICAL if c in columns]
        return Scorecard(categorical_features=cats, random_state=seed).fit(
            _frame(dev, columns), _y(dev), **_weighted(weights)
        )
    challenger = Challenger(
        features=list(columns), random_state=seed, reason_text=challenger_reason_text
    )
    return challenger.fit(_frame(dev, columns), _y(dev), **_weighted(weights))


def model_columns(model: Any, columns: Sequence[str]) -> list[str]:
    """The inputs a fitted model reads: a card's variables, or the challenger's features."""
    if isinstance(model, Scorecard):
        return [v.name for v in model.card_.variables]
    return list(columns)


def refit(model: Any, columns: Sequence[str], table: pa.Table, weights: Weights) -> Any:
    """The specification chosen on development, estimated again on ``table``.

    Scorecard: the same variables, each numeric one with its monotone direction, the same
    binning parameters and ``C``; the cut points and WoE are estimated on the new rows (no
    variable is dropped for low IV). Challenger: the same features and hyper-parameters.
    """
    if isinstance(model, Scorecard):
        card = model.card_
        chosen = model_columns(model, columns)
        trends = {v.name: v.trend for v in card.variables if v.trend in MONOTONE}
        params = model.get_params()
        params.update(
            categorical_features=[c for c in chosen if c in CATEGORICAL],
            C=float(card.training["C"]),
            min_iv=0.0,
            monotonic_trend=trends or params["monotonic_trend"],
        )
        return Scorecard(**params).fit(_frame(table, chosen), _y(table), **_weighted(weights))
    return Challenger(**model.get_params()).fit(
        _frame(table, columns), _y(table), **_weighted(weights)
    )


MONOTONE = ("ascending", "descending")


def window(table: pa.Table) -> dict[str, Any]:
    """First and last application day and row count of a sample (for reports and JSON)."""
    days = [a.date() for a in table["applied_at"].to_pylist()] if table.num_rows else []
    return {
        "from": str(min(days)) if days else None,
        "to": str(max(days)) if days else None,
        "rows": table.num_rows,
    }


def refit_family(
    result: FamilyResult,
    columns: Sequence[str],
    table: pa.Table,
    as_of: date,
    lifecycle: Lifecycle,
) -> None:
    """Refit ``result.with_graph``'s specification on ``table``; record its in-sample metrics."""
    if not lifecycle.refit:
        result.deployed = result.with_graph
        return
    weights = recency_weights(table, as_of, lifecycle.recency_halflife_months)
    model = refit(result.with_graph, columns, table, weights)
    used = model_columns(model, columns)
    y = _y(table)
    entry = _auc_entry(y, _pd(model, table, used))
    result.deployed = model
    result.refit = {
        **entry,
        "window": window(table),
        "recency_halflife_months": lifecycle.recency_halflife_months,
        "effective_rows": float(weights.sum() ** 2 / (weights**2).sum())
        if weights is not None
        else float(table.num_rows),
        "variables": len(used),
        "development_variables": len(model_columns(result.with_graph, columns)),
    }


def _pd(model: Any, table: pa.Table, columns: Sequence[str]) -> npt.NDArray[np.float64]:
    if table.num_rows == 0:
        return np.zeros(0)
    if isinstance(model, Scorecard):
        return np.asarray(model.predict_proba(_frame(table, columns))[:, 1], dtype=np.float64)
    return np.asarray(model.predict_pd(_frame(table, columns)), dtype=np.float64)


def _auc_entry(y: npt.NDArray[np.int64], pd: npt.NDArray[np.float64]) -> dict[str, Any]:
    if y.size == 0 or y.min() == y.max():
        return {"rows": int(y.size), "auc": None}
    ci = auc_ci(y, pd)
    return {
        "rows": int(y.size),
        "bad_rate": float(y.mean()),
        "auc": float(ci.auc),
        "auc_low": float(ci.lower),
        "auc_high": float(ci.upper),
    }


def _lift_entry(
    y: npt.NDArray[np.int64], with_graph: npt.NDArray[np.float64], without: npt.NDArray[np.float64]
) -> dict[str, Any]:
    if y.size == 0 or y.min() == y.max():
        return {"difference": None}
    d = paired_auc_difference(y, with_graph, without)
    return {
        "difference": float(d.difference),
        "low": float(d.lower),
        "high": float(d.upper),
        "p_value": float(d.p_value),
    }


def train_family(
    family: str, data: Split, own: list[str], graph: list[str], seed: int, weights: Weights = None
) -> FamilyResult:
    """Fit one family twice (with and without graph features) and measure both."""
    columns = own + graph
    result = FamilyResult(
        family,
        _fit(family, columns, data.development, seed, weights),
        _fit(family, own, data.development, seed, weights),
    )
    samples = {"development": data.development, "test": data.test, "out_of_time": data.out_of_time}
    for name, table in samples.items():
        result.pd[name] = _pd(result.with_graph, table, columns)
        result.pd_without[name] = _pd(result.without_graph, table, own)
        y = _y(table) if table.num_rows else np.zeros(0, dtype=np.int64)
        result.metrics[name] = _auc_entry(y, result.pd[name])
        result.metrics[f"{name}_without_graph"] = _auc_entry(y, result.pd_without[name])
        if name != "development":
            result.metrics[f"network_lift_{name}"] = _lift_entry(
                y, result.pd[name], result.pd_without[name]
            )
    return result


def train_no_social(
    family: str,
    data: Split,
    private: list[str],
    social: FamilyResult,
    seed: int,
    weights: Weights = None,
) -> FamilyResult:
    """Fit one family on the person's own data only; measure what the social data adds."""
    model = _fit(family, private, data.development, seed, weights)
    result = FamilyResult(family, model, model)
    samples = {"development": data.development, "test": data.test, "out_of_time": data.out_of_time}
    for name, table in samples.items():
        result.pd[name] = result.pd_without[name] = _pd(model, table, private)
        y = _y(table) if table.num_rows else np.zeros(0, dtype=np.int64)
        result.metrics[name] = _auc_entry(y, result.pd[name])
        if name != "development":
            result.metrics[f"social_lift_{name}"] = _lift_entry(y, social.pd[name], result.pd[name])
    return result


def _groups(table: pa.Table, genders: dict[str, str | None]) -> pa.Table:
    gender = [genders.get(p) for p in table["person_id"].to_pylist()]
    return pa.table(
        {
            "segment": table["segment"],
            "region_tier": table["region_tier"],
            "gender": pa.array(gender, pa.string()),
        }
    )


def report_inputs(
    result: FamilyResult,
    record_info: ModelInfo,
    data: Split,
    recent: pa.Table,
    columns: list[str],
    genders: dict[str, str | None],
    *,
    network_lift: bool = True,
    lifecycle: RefitSummary | None = None,
) -> ReportInputs:
    """Everything the validation report shows for one trained version."""

    def sample(name: str, table: pa.Table) -> Sample | None:
        if table.num_rows == 0:
            return None
        pd = result.pd[name]
        return Sample(
            pd=pd,
            y_bad=_y(table).astype(np.float64),
            score=points_from_pd(pd),
            variables=table.select(columns),
            groups=_groups(table, genders),
            period=_period(table),
        )

    recent_pd = _pd(result.with_graph, recent, columns)
    lifts = tuple(
        LiftSample(name, _y(table), result.pd[name], result.pd_without[name])
        for name, table in (("test", data.test), ("out_of_time", data.out_of_time))
        if network_lift and table.num_rows and 0 < _y(table).sum() < table.num_rows
    )
    bins: dict[str, list[dict[str, Any]]] | None = None
    iv: list[dict[str, Any]] | None = None
    if isinstance(result.with_graph, Scorecard):
        card = result.with_graph.card_
        iv = [dict(r) for r in card.training.get("variables", [])]
        bins = {
            v.name: [
                {
                    "bin": b.label,
                    "count": b.count,
                    "bad_rate": b.event_rate,
                    "woe": b.woe,
                    "points": b.points,
                }
                for b in v.bins
            ]
            for v in card.variables
        }
    return ReportInputs(
        model=record_info,
        development=sample("development", data.development),
        test=sample("test", data.test),
        recent=Sample(
            pd=recent_pd,
            score=points_from_pd(recent_pd),
            variables=recent.select(columns),
            groups=_groups(recent, genders),
            period=f"as of {record_info.created_at}",
        )
        if recent.num_rows
        else None,
        out_of_time=sample("out_of_time", data.out_of_time),
        bin_tables=bins,
        iv_table=iv,
        network_lift=NetworkLift(result.family, lifts) if lifts else None,
        refit=lifecycle,
    )


def _period(table: pa.Table) -> str:
    days = table["as_of"].to_pylist()
    return f"{min(days)} .. {max(days)}" if days else ""


def artifact_of(model: Any) -> dict[str, Any]:
    if isinstance(model, Scorecard):
        return dict(card_to_dict(model.card_))
    return dict(model.to_dict())


def train(
    training: pa.Table,
    recent: pa.Table,
    genders: dict[str, str | None],
    *,
    as_of: date,
    engine: Any,
    reports_dir: Path,
    actor: str,
    seed: int = 0,
    families: Sequence[str] = ("scorecard", "challenger"),
    progress: Progress | None = None,
    lifecycle: Lifecycle | None = None,
    dropped: pa.Table | None = None,
    impact_assessments: Mapping[str, str] | None = None,
) -> TrainingResult:
    """Train, validate, report and register one version per family (as candidates).

    ``dropped``: applications the training set could not join to features (with the reason);
    they are counted in the metrics and listed in the report. ``impact_assessments``: the
    PIPIA id of each model family (PIPL Art. 55-56, from the compliance pack), recorded in each
    version's metrics and so in its audit-log record.
    """
    say = progress or (lambda _m: None)
    life = lifecycle or Lifecycle()
    life.check()
    table = labelled(training, as_of, life.train_from)
    y = _y(table)
    since = f" and on or after {life.train_from}" if life.train_from else ""
    if table.num_rows < MIN_ROWS or y.sum() < 20 or y.sum() > y.size - 20:
        raise TrainingError(
            f"too few labelled applications before {as_of}{since}: {table.num_rows:,} rows, "
            f"{int(y.sum()):,} bad (need {MIN_ROWS:,} rows and 20 of each outcome)"
        )
    data = split(table, seed, oot_months=life.oot_months, oot_share=life.oot_share)
    if data.development.num_rows < MIN_ROWS // 2:
        raise TrainingError(
            f"the out-of-time window leaves {data.development.num_rows:,} development rows; "
            "ask for fewer out-of-time months"
        )
    dev_weights = recency_weights(data.development, as_of, life.recency_halflife_months)
    own, graph = feature_columns(table)
    social = social_feature_names()
    private = [n for n in own if n not in social]
    digest = data_hash(table)
    rows = {
        "development": data.development.num_rows,
        "test": data.test.num_rows,
        "out_of_time": data.out_of_time.num_rows,
        "recent": recent.num_rows,
        **({"refit": table.num_rows} if life.refit else {}),
    }
    windows = {
        "development": window(data.development),
        "test": window(data.test),
        "out_of_time": window(data.out_of_time),
        **({"refit": window(table)} if life.refit else {}),
    }
    excluded = exclusions(training, as_of, life.train_from)
    drops = dropped if dropped is not None else pa.table({"reason": pa.array([], pa.string())})
    for reason in drops["reason"].to_pylist():
        excluded[reason] = excluded.get(reason, 0) + 1
    out = TrainingResult(
        as_of, rows, {}, {}, {}, windows=windows, lifecycle=life.to_json(), excluded=excluded
    )
    fitted: dict[str, FamilyResult] = {}

    def publish(result: FamilyResult, variant: str, columns: list[str]) -> registry.ModelRecord:
        """Register one version, write its validation report, return the stored record."""
        model_metrics: dict[str, Any] = {
            **result.metrics,
            "rows": rows,
            "windows": windows,
            "lifecycle": life.to_json(),
            "deployed": "refit" if result.refit is not None else "development_fit",
            "refit": result.refit,
            "excluded": excluded,
            "out_of_time_from": str(data.oot_from) if data.oot_from else None,
            "impact_assessment_id": (impact_assessments or {}).get(result.family),
            "features": {"own": len(own), "graph": len(graph)}
            if variant == registry.SOCIAL
            else {"own": len(private), "graph": 0, "social_excluded": len(own) - len(private)},
        }
        record = registry.register(
            engine,
            family=result.family,
            variant=variant,
            as_of=as_of,
            feature_set_version=FEATURE_SET_VERSION,
            training_data_sha256=digest,
            artifact=artifact_of(result.deployed),
            metrics=model_metrics,
            actor=actor,
        )
        say(f"writing the validation report of {record.id}")
        info = ModelInfo(
            model_id=record.id,
            version=record.id.rsplit("-", 1)[-1],
            family=result.family,
            created_at=record.created_at.replace(tzinfo=UTC),
            feature_set_version=FEATURE_SET_VERSION,
            training_data_hash=digest,
        )
        summary = RefitSummary(
            deployed="refit" if result.refit is not None else "development fit",
            windows=windows,
            refit=result.refit,
            lifecycle=life.to_json(),
            excluded=excluded,
            dropped=[
                (str(r["loan_id"]), str(r["applied_at"]), REASON_TEXT.get(r["reason"], r["reason"]))
                for r in drops.to_pylist()
            ]
            if "loan_id" in drops.column_names
            else [],
        )
        inputs = report_inputs(
            result,
            info,
            data,
            recent,
            columns,
            genders,
            network_lift=variant == registry.SOCIAL,
            lifecycle=summary,
        )
        path = write_report(inputs, reports_dir / f"{record.id}.html")
        registry.set_report_path(engine, record.id, str(path))
        if variant == registry.SOCIAL:
            out.reports[result.family], out.metrics[result.family] = path, model_metrics
        else:
            out.no_social_reports[result.family] = path
            out.no_social_metrics[result.family] = model_metrics
        return registry.get(engine, record.id)

    for family in families:
        say(f"fitting the {family} with and without graph features")
        result = train_family(family, data, own, graph, seed, dev_weights)
        if life.refit:
            say(f"refitting the chosen {family} on all {table.num_rows:,} labelled applications")
        refit_family(result, own + graph, table, as_of, life)
        fitted[family] = result
        out.records[family] = publish(result, registry.SOCIAL, own + graph)
        say(f"fitting the {family} without social data (for applicants who withhold consent)")
        no_social = train_no_social(family, data, private, result, seed, dev_weights)
        refit_family(no_social, private, table, as_of, life)
        out.no_social[family] = publish(no_social, registry.NO_SOCIAL, private)
    if {"scorecard", "challenger"} <= set(fitted):
        for name, sample in (("test", data.test), ("out_of_time", data.out_of_time)):
            y_sample = _y(sample) if sample.num_rows else np.zeros(0, dtype=np.int64)
            out.challenger_vs_scorecard[name] = _lift_entry(
                y_sample, fitted["challenger"].pd[name], fitted["scorecard"].pd[name]
            )
    return out
