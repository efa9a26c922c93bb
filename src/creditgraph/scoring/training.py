"""``model train``: point-in-time training set, out-of-time split, scorecard and challenger,
each with and without graph features (the network lift), validation reports, registration.

Each family is also fitted without any social feature and registered as its ``no_social``
variant: the model that scores applicants who withhold the credit_assessment consent.

Samples: applications whose outcome was observed before the training cut-off. The latest quarter
of application months is held out as the out-of-time sample (the later period a model will
actually meet); the earlier months are split 70/30 (stratified, seeded) into development and
test. The recent population is everyone's features as of the cut-off, unlabelled: the PSI of
the score and of every variable compares it with development.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
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
from creditgraph.scoring import registry
from creditgraph.scoring.challenger import Challenger
from creditgraph.scoring.metrics import auc_ci, paired_auc_difference
from creditgraph.scoring.models import challenger_reason_text, points_from_pd
from creditgraph.scoring.report import (
    LiftSample,
    ModelInfo,
    NetworkLift,
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

Progress = Callable[[str], None]


class TrainingError(ValueError):
    """Training cannot go ahead (too few labelled applications, one class only, ...)."""


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


def feature_columns(table: pa.Table) -> tuple[list[str], list[str]]:
    """(own, graph) model inputs present in ``table``, in catalogue order."""
    family = {f.name: f.family for f in all_features()}
    names = list(family)
    present = [n for n in names if n in table.column_names and n not in NOT_INPUTS]
    own = [n for n in present if family[n] not in GRAPH_FAMILIES]
    graph = [n for n in present if family[n] in GRAPH_FAMILIES]
    return own, graph


def labelled(training: pa.Table, as_of: date) -> pa.Table:
    """Applications before the cut-off whose outcome was observed before it too."""
    cut = pa.scalar(datetime(as_of.year, as_of.month, as_of.day), pa.timestamp("us"))
    observed = pc.cast(training["observed_at"], pa.timestamp("us"))
    applied = pc.cast(training["applied_at"], pa.timestamp("us"))
    keep = pc.and_(pc.less(observed, cut), pc.less(applied, cut))
    return training.filter(pc.fill_null(keep, False))


def split(table: pa.Table, seed: int) -> Split:
    """Out-of-time: the latest quarter of application months; the rest 70/30 development/test."""
    months = sorted(set(table["as_of"].to_pylist()))
    n_oot = round(len(months) * OOT_SHARE) if len(months) >= 4 else 0
    oot_from = months[-n_oot] if n_oot else None
    if oot_from is not None:
        is_oot = pc.greater_equal(table["as_of"], pa.scalar(oot_from, pa.date32()))
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


def _fit(family: str, columns: Sequence[str], dev: pa.Table, seed: int) -> Any:
    if family == "scorecard":
        cats = [c for c in CATEGORICAL if c in columns]
        return Scorecard(categorical_features=cats, random_state=seed).fit(
            _frame(dev, columns), _y(dev)
        )
    challenger = Challenger(
        features=list(columns), random_state=seed, reason_text=challenger_reason_text
    )
    return challenger.fit(_frame(dev, columns), _y(dev))


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
    family: str, data: Split, own: list[str], graph: list[str], seed: int
) -> FamilyResult:
    """Fit one family twice (with and without graph features) and measure both."""
    columns = own + graph
    result = FamilyResult(
        family,
        _fit(family, columns, data.development, seed),
        _fit(family, own, data.development, seed),
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
    family: str, data: Split, private: list[str], social: FamilyResult, seed: int
) -> FamilyResult:
    """Fit one family on the person's own data only; measure what the social data adds."""
    model = _fit(family, private, data.development, seed)
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
    )


def _period(table: pa.Table) -> str:
    days = table["as_of"].to_pylist()
    return f"{min(days)} .. {max(days)}" if days else ""


def artifact_of(model: Any) -> dict[str, Any]:
    if isinstance(model, Scorecard):
        return dict(model.card_.to_dict())
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
) -> TrainingResult:
    """Train, validate, report and register one version per family (as candidates)."""
    say = progress or (lambda _m: None)
    table = labelled(training, as_of)
    y = _y(table)
    if table.num_rows < MIN_ROWS or y.sum() < 20 or y.sum() > y.size - 20:
        raise TrainingError(
            f"too few labelled applications before {as_of}: {table.num_rows:,} rows, "
            f"{int(y.sum()):,} bad (need {MIN_ROWS:,} rows and 20 of each outcome)"
        )
    data = split(table, seed)
    own, graph = feature_columns(table)
    social = social_feature_names()
    private = [n for n in own if n not in social]
    digest = data_hash(table)
    rows = {
        "development": data.development.num_rows,
        "test": data.test.num_rows,
        "out_of_time": data.out_of_time.num_rows,
        "recent": recent.num_rows,
    }
    out = TrainingResult(as_of, rows, {}, {}, {})
    fitted: dict[str, FamilyResult] = {}

    def publish(result: FamilyResult, variant: str, columns: list[str]) -> registry.ModelRecord:
        """Register one version, write its validation report, return the stored record."""
        model_metrics: dict[str, Any] = {
            **result.metrics,
            "rows": rows,
            "out_of_time_from": str(data.oot_from) if data.oot_from else None,
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
            artifact=artifact_of(result.with_graph),
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
        inputs = report_inputs(
            result, info, data, recent, columns, genders, network_lift=variant == registry.SOCIAL
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
        result = train_family(family, data, own, graph, seed)
        fitted[family] = result
        out.records[family] = publish(result, registry.SOCIAL, own + graph)
        say(f"fitting the {family} without social data (for applicants who withhold consent)")
        no_social = train_no_social(family, data, private, result, seed)
        out.no_social[family] = publish(no_social, registry.NO_SOCIAL, private)
    if {"scorecard", "challenger"} <= set(fitted):
        for name, sample in (("test", data.test), ("out_of_time", data.out_of_time)):
            y_sample = _y(sample) if sample.num_rows else np.zeros(0, dtype=np.int64)
            out.challenger_vs_scorecard[name] = _lift_entry(
                y_sample, fitted["challenger"].pd[name], fitted["scorecard"].pd[name]
            )
    return out
