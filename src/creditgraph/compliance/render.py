"""The compliance report as text a compliance officer reads, each line in Chinese and English."""

from __future__ import annotations

from creditgraph.compliance.check import ComplianceReport, Row
from creditgraph.compliance.fairness import AttributeResult, FairnessReport

_STATUS_ZH = {
    "PASS": "通过",
    "FAIL": "不合规",
    "MISSING": "缺失",
    "CITED": "已引用",
    "NOT ASSESSED": "未评估",
}
_REF_MARK = {"ok": "ok", "missing": "MISSING", "not_shipped": "not shipped / 未随包发布"}
_GROUP_ZH = {
    "reference": "基准",
    "pass": "通过",
    "fail": "低于五分之四",
    "insufficient": "样本不足",
}
_AREA = {"lending": "放贷规则 / Lending rules", "privacy": "个人信息保护 / PIPL", "fairness": ""}


def _row(row: Row) -> list[str]:
    req = row.requirement
    lines = [
        f"[{row.status} {_STATUS_ZH[row.status]}] {req.id}: {req.zh} / {req.en}",
        f"    依据 basis: {req.basis}",
        f"    合规包 pack: {row.pack_value}",
        f"    现行 in force: {row.in_force}",
    ]
    lines += [f"    代码 code: {c.ref} [{_REF_MARK[c.status]}]" for c in row.code]
    lines += [f"    测试 test: {t.ref} [{_REF_MARK[t.status]}]" for t in row.tests]
    if row.note:
        lines.append(f"    说明 note: {row.note}")
    return lines


def _attribute(a: AttributeResult) -> list[str]:
    eo = (
        "n/a" if a.equal_opportunity_difference is None else f"{a.equal_opportunity_difference:.3f}"
    )
    lines = [
        f"  {a.attribute}: 基准组 reference {a.reference_group or '-'}; "
        f"机会均等差 equal-opportunity difference {eo} (已知结果 labelled {a.labelled})"
    ]
    for g in a.groups:
        ratio = "n/a" if g.ratio is None else f"{g.ratio:.3f}"
        gap = "" if g.opportunity_gap is None else f", gap {g.opportunity_gap:.3f}"
        lines.append(
            f"    {g.group:<22} n={g.people:<6} approved={g.approved:<6} "
            f"rate={g.approval_rate:.3f} ratio={ratio}{gap}  "
            f"[{g.status} {_GROUP_ZH[g.status]}]"
        )
    return lines


def render_fairness(report: FairnessReport, period: str | None) -> list[str]:
    lines = [
        f"公平性 Fairness — 期间 period {period or '-'}, {report.decisions} 项决策 decisions, "
        f"五分之四规则 four-fifths rule: ratio >= {report.min_ratio}, "
        f"最小组 min group {report.min_group_size}"
    ]
    if not report.attributes:
        lines.append("  该期间没有已作出的决策 / no decisions made in the period")
    for a in report.attributes:
        lines.extend(_attribute(a))
    return lines


def render_text(report: ComplianceReport) -> str:
    counts = report.counts
    lines = [
        f"合规检查 Compliance check — {report.jurisdiction} pack {report.pack_version} "
        f"(effective {report.effective_from}, sha256 {report.pack_hash[:12]}); "
        f"decision config {report.config_version} (sha256 {report.config_hash[:12]})",
        "",
    ]
    area = None
    for row in report.rows:
        if row.requirement.area != area:
            area = row.requirement.area
            if _AREA.get(area):
                lines += [_AREA[area], ""]
        lines += [*_row(row), ""]
    if report.fairness is not None:
        lines += [*render_fairness(report.fairness, report.fairness_period), ""]
    lines += [
        f"合计 Summary: PASS {counts['PASS']}, FAIL {counts['FAIL']}, MISSING {counts['MISSING']}, "
        f"CITED {counts['CITED']}, NOT ASSESSED {counts['NOT ASSESSED']}",
        "PASS 通过: 现行值已与合规包比对且符合 the value in force was compared with the pack and "
        "holds; CITED 已引用: 所引代码与测试存在，本检查未度量 the code and tests cited exist, "
        "this check does not measure it; NOT ASSESSED 未评估: 本检查看不到该值 the check cannot "
        "see the value",
    ]
    return "\n".join(lines)
