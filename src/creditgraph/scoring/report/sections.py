"""The report's sections, in reading order: each turns the gathered inputs into blocks.

A section whose data is missing says why (a :class:`NotAvailable` block) rather than failing:
a validation report with an honest gap is more useful than no report. The model's governance
sections (network lift, fairness, training lifecycle, methods) live in
:mod:`creditgraph.scoring.report.governance`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from creditgraph.scoring import metrics as m
from creditgraph.scoring.report import plots
from creditgraph.scoring.report.blocks import (
    Badge,
    Block,
    Cell,
    Details,
    Heading,
    NotAvailable,
    Paragraph,
    Table,
    columns,
)
from creditgraph.scoring.report.formatting import DASH, count, fixed, interval, percent
from creditgraph.scoring.report.governance import fairness, methods, network_lift, refit
from creditgraph.scoring.report.inputs import ReportContext, measure_name
from creditgraph.scoring.report.tables import (
    bin_groups,
    find_column,
    iv_strength,
    records,
    supplied_table,
)

NO_OUTCOMES = "no sample has both good and bad outcomes"


def summary(ctx: ReportContext) -> list[Block]:
    info = ctx.inputs.model
    created = info.created_at
    model_rows = [
        ("模型 / model id", info.model_id),
        ("版本 / version", info.version),
        ("模型类别 / family", info.family),
        (
            "创建时间 / created at",
            created.isoformat() if isinstance(created, datetime) else created,
        ),
        ("特征集版本 / feature-set version", info.feature_set_version),
        ("训练数据哈希 / training-data hash", info.training_data_hash),
    ]
    out: list[Block] = [
        Heading("模型 / Model"),
        Table(columns("项目 / item|值 / value"), model_rows),
        Heading("样本 / Samples"),
    ]
    if not ctx.samples:
        return [*out, NotAvailable("no samples were supplied")]
    rows = []
    for s in ctx.samples.values():
        y = s.labels
        bad_rate = percent(float(y.mean())) if y.size else DASH
        mean_pd = percent(float(s.pd.mean()))
        rows.append(
            [
                s.title,
                s.period or DASH,
                count(s.pd.size),
                count(y.size),
                count(int(y.sum())),
                bad_rate,
                mean_pd,
            ]
        )
    headers = "样本 / sample|期间 / period|人数 / count|已知结果 / labelled|坏客户 / bads"
    out.append(Table(columns(f"{headers}|坏账率 / bad rate|平均预测PD / mean PD"), rows))
    out.append(Heading("表现 / Performance"))
    if not ctx.labelled:
        return [*out, NotAvailable(NO_OUTCOMES)]
    level = f"{ctx.level:.0%}"
    perf = []
    for s in ctx.labelled:
        est = ctx.estimate(s)
        ks = fixed(m.ks_statistic(s.labels, s.known_pd))
        perf.append(
            [
                s.title,
                interval(est),
                interval(est, gini=True),
                ks,
                est if isinstance(est, str) else "",
            ]
        )
    headers = f"样本 / sample|AUC [{level} CI]|Gini [{level} CI]|KS|备注 / note"
    out.append(Table(columns(headers), perf))
    out.append(Paragraph(f"Confidence intervals: DeLong's method, {level} two-sided.", "note"))
    return out


def discrimination(ctx: ReportContext) -> list[Block]:
    s = ctx.primary
    if s is None:
        return [NotAvailable(NO_OUTCOMES)]
    curve = m.ks_curve(s.labels, s.known_pd)
    declined = percent(float(curve.population_share[curve.at]))
    return [
        Heading("ROC 曲线 / ROC curves"),
        plots.roc_plot(ctx.labelled),
        Heading(f"KS 曲线 / KS curve — {s.title}"),
        plots.ks_plot(s, curve),
        Paragraph(
            f"KS = {curve.statistic:.4f} at PD cut-off {curve.threshold:.4g} ({declined} declined)."
        ),
        Heading(f"按结果的分数分布 / Score distribution by outcome — {s.title}"),
        plots.outcome_plot(s, s.score is not None),
    ]


def calibration(ctx: ReportContext) -> list[Block]:
    primary = ctx.primary
    if primary is None:
        return [NotAvailable(NO_OUTCOMES)]
    bins = ctx.inputs.calibration_bins
    items = [(s, m.calibration(s.labels, s.known_pd, bins)) for s in ctx.labelled]
    overall = [
        [
            s.title,
            percent(c.mean_predicted),
            percent(c.observed_rate),
            fixed(c.brier),
            fixed(c.expected_calibration_error),
        ]
        for s, c in items
    ]
    cal = next(c for s, c in items if s is primary)
    by_bin = [
        [
            f"{b.lower:.4f} – {b.upper:.4f}",
            count(b.count),
            count(b.bads),
            percent(b.mean_predicted),
            percent(b.observed_rate),
            f"{100 * (b.observed_rate - b.mean_predicted):+.1f} pp",
        ]
        for b in cal.bins
    ]
    headers = "PD 范围 / PD range|人数 / count|坏客户 / bads|平均预测 / predicted|实际 / observed"
    return [
        plots.calibration_plot(items),
        Table(
            columns("样本 / sample|平均预测PD / mean PD|实际坏账率 / observed|Brier|ECE"), overall
        ),
        Heading(f"分箱校准 / Calibration by bin — {primary.title}"),
        Table(columns(f"{headers}|差 / gap"), by_bin),
    ]


def lift(ctx: ReportContext) -> list[Block]:
    s = ctx.primary
    if s is None:
        return [NotAvailable(NO_OUTCOMES)]
    rows = [
        [
            str(r.group),
            count(r.count),
            f"{r.min_risk:.4f} – {r.max_risk:.4f}",
            count(r.bads),
            percent(r.bad_rate),
            count(r.cumulative_bads),
            percent(r.capture),
            f"{r.lift:.2f}",
            f"{r.cumulative_lift:.2f}",
        ]
        for r in m.lift_table(s.labels, s.known_pd, ctx.inputs.lift_groups)
    ]
    headers = (
        "组 / group|人数 / count|PD 范围 / PD range|坏客户 / bads|坏账率 / bad rate|"
        "累计坏客户 / cum. bads|累计捕获率 / cum. capture|提升 / lift|累计提升 / cum. lift"
    )
    note = f"{s.title}: equal-size groups by predicted PD, riskiest first; ties stay together."
    return [Paragraph(note), Table(columns(headers), rows)]


def variables(ctx: ReportContext) -> list[Block]:
    out: list[Block] = [Heading("信息值 / Information value (IV)")]
    iv = ctx.inputs.iv_table
    if iv is None:
        out.append(NotAvailable("no IV table was supplied (scorecard models provide one)"))
    else:
        col = find_column(records(iv)[0], "iv", "information_value", "information value")
        strength = ("强度 / strength", lambda r: iv_strength(r.get(col)))
        out.append(supplied_table(iv, strength if col else None))
        out.append(
            Paragraph(
                "IV < 0.02 not predictive, 0.02–0.1 weak, 0.1–0.3 medium, 0.3–0.5 strong, "
                "> 0.5 suspiciously strong (check for leakage).",
                "note",
            )
        )
    out.append(Heading("分箱表 / Bin tables"))
    bins = ctx.inputs.bin_tables
    if bins is None:
        return [*out, NotAvailable("no bin tables were supplied (scorecard models provide them)")]
    for name, rows in bin_groups(bins):
        table = supplied_table(rows)
        out.append(table if name is None else Details(name, table))
    return out


_PSI_TEXT = {"stable": "稳定 / stable", "watch": "关注 / watch", "alert": "显著偏移 / shift"}


def _psi_badge(value: float) -> Badge:
    status = m.psi_status(value)
    return Badge(f"{value:.4f} {_PSI_TEXT[status]}", status)


def stability(ctx: ReportContext) -> list[Block]:
    ref = ctx.samples.get("development")
    if ref is None:
        return [
            NotAvailable("the development sample is the reference for PSI and was not supplied")
        ]
    others = [s for s in ctx.samples.values() if s.key != "development"]
    if not others:
        return [NotAvailable("no test, recent or out-of-time sample to compare with development")]
    use_score = all(s.score is not None for s in ctx.samples.values())
    bins = ctx.inputs.psi_bins
    score_rows: list[list[Cell]] = [
        [
            f"development → {s.short}",
            _psi_badge(m.psi(ref.display(use_score), s.display(use_score), bins).value),
            count(s.pd.size),
        ]
        for s in others
    ]
    out: list[Block] = [
        Heading(f"分数 PSI / Score PSI ({measure_name(use_score)}, bins: development deciles)"),
        Table(columns("比较 / comparison|PSI|人数 / count"), score_rows),
        plots.population_plot([ref, *others], use_score),
        Heading("变量 PSI / PSI per variable"),
    ]
    comparable = [s for s in others if s.variables is not None]
    if ref.variables is None or not comparable:
        need = "development and at least one other sample need a table of variables"
        return [*out, NotAvailable(need)]
    psi: dict[tuple[str, str], float] = {}
    for s in comparable:
        for v in m.variable_psi(ref.variables, s.variables or {}, bins=bins):
            psi[(s.key, v.name)] = v.value
    rows: list[list[Cell]] = [
        [
            name,
            *(_psi_badge(psi[(s.key, name)]) if (s.key, name) in psi else DASH for s in comparable),
        ]
        for name in ref.variables
    ]
    headers = ["变量 / variable", *(f"development → {s.short}" for s in comparable)]
    return [*out, Table(headers, rows)]


def out_of_time(ctx: ReportContext) -> list[Block]:
    oot = ctx.samples.get("out_of_time")
    if oot is None:
        return [NotAvailable("no out-of-time sample was supplied")]
    if not oot.has_outcomes:
        return [NotAvailable("the out-of-time sample has no known good and bad outcomes yet")]
    base = next(
        (
            ctx.samples[k]
            for k in ("test", "development")
            if k in ctx.samples and ctx.samples[k].has_outcomes
        ),
        None,
    )
    rows = []
    for s in [oot] if base is None else [base, oot]:
        cal = m.calibration(s.labels, s.known_pd, ctx.inputs.calibration_bins)
        ks = fixed(m.ks_statistic(s.labels, s.known_pd))
        rows.append(
            [
                s.title,
                s.period or DASH,
                count(s.labels.size),
                percent(cal.observed_rate),
                percent(cal.mean_predicted),
                interval(ctx.estimate(s)),
                ks,
                fixed(cal.brier),
            ]
        )
    headers = (
        "样本 / sample|期间 / period|已知结果 / labelled|坏账率 / bad rate|平均预测PD / mean PD"
    )
    out: list[Block] = [Table(columns(f"{headers}|AUC [CI]|KS|Brier"), rows)]
    if base is None:
        return out
    now, before = ctx.estimate(oot), ctx.estimate(base)
    if isinstance(now, m.AucEstimate) and isinstance(before, m.AucEstimate):
        d = m.independent_auc_difference(now, before, ctx.level)
        out.append(
            Paragraph(
                f"AUC change, out-of-time − {base.short}: {d.difference:+.4f} "
                f"[{d.lower:+.4f}, {d.upper:+.4f}], p = {d.p_value:.3g} "
                "(independent samples, DeLong variances)."
            )
        )
    return out


Section = Callable[[ReportContext], list[Block]]

SECTIONS: tuple[tuple[str, str, Section], ...] = (
    ("summary", "摘要 / Summary", summary),
    ("discrimination", "区分能力 / Discrimination", discrimination),
    ("calibration", "校准 / Calibration", calibration),
    ("lift", "提升与捕获 / Lift and gains", lift),
    ("variables", "变量与分箱 / Variables: IV and bins", variables),
    ("stability", "稳定性 / Population stability (PSI)", stability),
    ("out-of-time", "跨期表现 / Out-of-time performance", out_of_time),
    ("network-lift", "网络增益 / Network lift", network_lift),
    ("fairness", "公平性 / Fairness", fairness),
    ("refit", "训练周期与部署 / Training lifecycle and refit", refit),
    ("methods", "方法说明 / Methods", methods),
)
"""(anchor id, heading, builder) of every section, in reading order."""

SECTION_IDS: tuple[str, ...] = tuple(sid for sid, _, _ in SECTIONS)
