"""The sections a model-approval committee reads beyond raw performance: what the graph
features add, whom the decisions treat unequally, how the deployed fit was trained, and the
methods behind every number."""

from __future__ import annotations

from creditgraph.scoring import metrics as m
from creditgraph.scoring.fairness import FOUR_FIFTHS, FairnessResult, group_fairness
from creditgraph.scoring.report import plots
from creditgraph.scoring.report.blocks import (
    Badge,
    Block,
    Cell,
    Heading,
    Methods,
    NotAvailable,
    Paragraph,
    Table,
    columns,
)
from creditgraph.scoring.report.formatting import DASH, count, fixed, interval, percent
from creditgraph.scoring.report.inputs import SAMPLE_TITLES, ReportContext


def _verdict(d: m.AucDifference, target: float) -> Badge:
    if d.lower > 0 and d.difference >= target:
        return Badge("达到目标 / meets target", "stable")
    if d.lower > 0:
        return Badge("显著但低于目标 / significant, below target", "watch")
    return Badge("不显著 / not significant", "alert")


def network_lift(ctx: ReportContext) -> list[Block]:
    lift = ctx.inputs.network_lift
    if lift is None:
        return [
            NotAvailable(
                "no comparison of the model family with and without graph features was supplied"
            )
        ]
    if not lift.samples:
        return [NotAvailable("the network-lift comparison holds no samples")]
    rows: list[list[Cell]] = []
    plotted = []
    for item in lift.samples:
        name = SAMPLE_TITLES.get(item.sample, item.sample)
        try:
            with_g = m.auc_ci(item.y_bad, item.pd_with_graph, ctx.level)
            without = m.auc_ci(item.y_bad, item.pd_without_graph, ctx.level)
            d = m.paired_auc_difference(
                item.y_bad, item.pd_with_graph, item.pd_without_graph, ctx.level
            )
        except ValueError as exc:
            rows.append([name, DASH, DASH, DASH, DASH, str(exc)])
            continue
        diff = f"{d.difference:+.4f} [{d.lower:+.4f}, {d.upper:+.4f}]"
        rows.append(
            [
                name,
                interval(without),
                interval(with_g),
                diff,
                f"{d.p_value:.3g}",
                _verdict(d, lift.target),
            ]
        )
        plotted.append((item.sample.replace("_", "-"), with_g, without))
    headers = (
        "样本 / sample|无图特征 AUC / without graph|含图特征 AUC / with graph|"
        "差值 / difference [CI]|p|结论 / verdict"
    )
    intro = (
        f"Model family: {lift.family}. Target: graph features add at least +{lift.target:.2f} "
        f"AUC. Difference with DeLong's paired {ctx.level:.0%} interval (same people)."
    )
    out: list[Block] = [Paragraph(intro), Table(columns(headers), rows)]
    return [*out, plots.lift_plot(plotted)] if plotted else out


def fairness(ctx: ReportContext) -> list[Block]:
    key, cutoff = ctx.inputs.fairness_sample, ctx.inputs.approval_cutoff
    s = ctx.samples.get(key)
    if s is None:
        return [NotAvailable(f"the {key} sample, on which fairness is assessed, was not supplied")]
    if s.groups is None:
        return [NotAvailable(f"the {key} sample has no group columns")]
    if s.approved is not None:
        approved, basis = s.approved, "decisions as taken"
    elif cutoff is not None:
        approved, basis = s.pd <= cutoff, f"approve when PD <= {cutoff:.4g}"
    else:
        return [NotAvailable("the sample has no approval decisions and no PD cut-off was given")]
    out: list[Block] = [
        Paragraph(
            f"{s.title}; {basis}. Groups under {ctx.inputs.min_group_size} people are shown but not "
            "judged. Equal opportunity compares approval rates among people who repaid."
        )
    ]
    for attribute in ctx.inputs.fairness_attributes:
        out.append(Heading(f"按 {attribute} / By {attribute}"))
        if attribute not in s.groups:
            out.append(
                NotAvailable(f"column {attribute!r} is not among the sample's group columns")
            )
            continue
        result = group_fairness(
            attribute, s.groups[attribute], approved, s.y, ctx.inputs.min_group_size
        )
        out.extend(_fairness_block(result))
    return out


def _fairness_block(r: FairnessResult) -> list[Block]:
    summary = [
        ("参照组 / reference group (most approved)", r.reference_group or "— (all groups small)"),
        ("最低批准率比 / lowest approval-rate ratio", fixed(r.min_approval_ratio, 3)),
        ("低于五分之四 / below four-fifths", ", ".join(r.four_fifths_violations) or "none / 无"),
        ("机会均等差 / equal-opportunity difference", fixed(r.equal_opportunity_difference, 3)),
        ("已知结果 / labelled people", count(r.labelled)),
    ]
    rows: list[list[Cell]] = []
    for i, g in enumerate(r.groups, start=1):
        note = (
            "样本过小 / small group"
            if g.small
            else ("还款人过少 / few good payers" if g.few_good_payers else "")
        )
        flag: Cell = ("< 0.8" if g.small else Badge("< 0.8", "alert")) if g.four_fifths_flag else ""
        rows.append(
            [
                i,
                g.group,
                count(g.count),
                count(g.approved),
                percent(g.approval_rate),
                fixed(g.approval_ratio, 3),
                flag,
                count(g.good_payers),
                percent(g.good_payer_approval_rate),
                fixed(g.opportunity_gap, 3),
                note,
            ]
        )
    headers = (
        "#|组 / group|人数 / count|批准 / approved|批准率 / approval rate|比率 / ratio|4/5|"
        "还款人 / good payers|还款人批准率 / TPR|差距 / gap|备注 / note"
    )
    return [
        Table(columns("指标 / measure|值 / value"), summary),
        Table(columns(headers), rows),
        plots.fairness_plot(r),
    ]


def refit(ctx: ReportContext) -> list[Block]:
    r = ctx.inputs.refit
    if r is None:
        return [NotAvailable("no training-lifecycle summary (windows, refit) was supplied")]
    if r.refit is not None:
        intro = (
            "The specification (variables, binning, regularisation) was chosen on the development "
            "sample and judged on test and out-of-time data (the sections above). It was then "
            "refitted on every labelled application up to the as-of date: the deployed model is "
            "the refit, whose metrics below are in-sample."
        )
    else:
        intro = "The deployed model is the development fit (no refit was asked for)."
    out: list[Block] = [Paragraph(f"Deployed / 部署: {r.deployed}. {intro}")]
    rows = [
        [name, w.get("from") or DASH, w.get("to") or DASH, count(int(w.get("rows") or 0))]
        for name, w in r.windows.items()
    ]
    out.append(Table(columns("样本 / sample|从 / from|到 / to|行数 / rows"), rows))
    if r.refit is not None:
        f = r.refit
        auc = f.get("auc")
        auc_text = (
            DASH
            if auc is None
            else f"{auc:.4f} [{f.get('auc_low', float('nan')):.4f}, "
            f"{f.get('auc_high', float('nan')):.4f}]"
        )
        items = [
            ("in-sample AUC / 样本内AUC", auc_text),
            ("rows / 行数", count(int(f.get("rows", 0)))),
            ("bad rate / 坏账率", percent(f.get("bad_rate"))),
            ("effective rows (weights) / 有效行数", fixed(f.get("effective_rows"), 0)),
            (
                "recency half-life, months / 时间衰减半衰期",
                f.get("recency_halflife_months") or DASH,
            ),
            (
                "variables (refit / development) / 变量数",
                f"{f.get('variables', DASH)} / {f.get('development_variables', DASH)}",
            ),
        ]
        out.append(Table(columns("项目 / item|值 / value"), items))
    if r.lifecycle:
        out.append(Paragraph("Options: " + ", ".join(f"{k} = {v}" for k, v in r.lifecycle.items())))
    if r.excluded:
        excluded = [[reason, count(n)] for reason, n in r.excluded.items()]
        out.append(Heading("未使用的申请 / Applications not used"))
        out.append(Table(columns("原因 / reason|申请数 / applications"), excluded))
    if r.dropped:
        shown = list(r.dropped[: r.max_listed])
        more = len(r.dropped) - len(shown)
        note = f" (first {len(shown)} of {len(r.dropped):,})" if more > 0 else ""
        out.append(Heading(f"无特征而未用的申请 / Applications without features{note}"))
        out.append(Table(columns("贷款 / loan|申请时间 / applied at|原因 / reason"), shown))
    return out


def methods(ctx: ReportContext) -> list[Block]:
    return [
        Methods(
            psi_epsilon=f"{m.PSI_EPSILON:g}",
            psi_watch=f"{m.PSI_WATCH}",
            psi_alert=f"{m.PSI_ALERT}",
            four_fifths=f"{FOUR_FIFTHS:.0%}",
        )
    ]
