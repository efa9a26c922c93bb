"""The subject export as a page a person can read, in Chinese or English.

Autoescaped templates: names, notes and free text in the export come from people and lenders,
and the page must never run or inject what they contain. The page shows the same document as the
JSON export, section by section, with headings and field names in the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from creditgraph.decision.subject.export import SECTIONS

LANGUAGES = ("zh", "en")

HEADINGS: dict[str, tuple[str, str]] = {
    "identity": ("身份信息", "Identity"),
    "person": ("个人资料", "Profile"),
    "consents": ("授权同意", "Consents"),
    "features": ("特征", "Features"),
    "scores": ("评分", "Scores"),
    "decisions": ("授信决策及理由", "Decisions and their reasons"),
    "loans": ("借款、还款计划与交易", "Loans, instalments and transactions"),
    "external_loans": ("其他机构报送的借款", "Loans reported by other lenders"),
    "social_data": ("社交数据（按来源汇总）", "Social data, by source"),
    "alerts": ("风险预警", "Risk alerts"),
    "limit_controls": ("额度管控", "Credit limit controls"),
    "legal_holds": ("依法保留的数据", "Data kept by law"),
    "subject_requests": ("您的个人信息请求", "Your requests about your data"),
    "access_log": ("谁访问了您的数据", "Who accessed your data"),
}
TEXT: dict[str, tuple[str, str]] = {
    "title": ("个人信息副本", "A copy of your personal data"),
    "intro": (
        "以下是本平台持有的关于您的全部数据（《个人信息保护法》第四十五条）。",
        "This is everything the platform holds about you (PIPL Art. 45).",
    ),
    "none": ("无", "none"),
    "generated": ("生成时间", "Generated"),
    "request": ("请求编号", "Request"),
    "reasons": ("理由", "Reasons"),
    "outcome": ("结果", "Outcome"),
}


FIELDS_ZH = {
    "external_id": "客户编号",
    "name": "姓名",
    "phone": "手机号",
    "id_number": "身份证号",
    "note": "备注",
    "declared_monthly_income": "申报月收入",
    "segment": "客群",
    "region_tier": "地区层级",
    "birth_year": "出生年份",
    "gender": "性别",
    "occupation": "职业",
    "registered_at": "注册时间",
    "created_at": "记录时间",
    "updated_at": "更新时间",
    "source": "来源",
    "purpose": "用途",
    "granted_at": "授权时间",
    "expires_at": "到期时间",
    "revoked_at": "撤回时间",
    "sensitive": "敏感个人信息",
    "text_version": "授权文本版本",
    "text_sha256": "授权文本哈希",
    "recorded_via": "记录方式",
    "values": "特征值",
    "as_of": "截至日期",
    "score": "评分",
    "grade": "等级",
    "pd": "违约概率",
    "reasons": "理由",
    "outcome": "结果",
    "limit": "额度",
    "amount": "金额",
    "term_months": "期限（月）",
    "principal": "本金",
    "state": "状态",
    "status": "状态",
    "instalments": "还款计划",
    "transactions": "交易",
    "due_date": "应还日期",
    "kind": "类型",
    "at": "时间",
    "actor": "访问者",
    "actor_kind": "访问者类型",
    "data_classes": "数据类别",
    "action": "操作",
    "bulk": "批量作业",
    "received_at": "收到时间",
    "due_at": "答复期限",
    "completed_at": "完成时间",
    "rows": "行数",
    "role": "角色",
    "first": "最早",
    "last": "最晚",
    "table": "数据表",
    "evidence": "依据",
    "severity": "严重程度",
    "reviews": "人工复核",
}
"""Field names as a Chinese reader reads them; others keep the stored name."""


def label(name: object, lang: str) -> str:
    """A field's name in ``lang``: Chinese from the table above, English with spaces."""
    text = str(name)
    if lang == "zh":
        return FIELDS_ZH.get(text, text)
    return text.replace("_", " ")


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "zh" else pair[1]


def _is_mapping(value: object) -> bool:
    return isinstance(value, Mapping)


def _is_list(value: object) -> bool:
    return isinstance(value, list)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("creditgraph.decision.subject", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.tests["mapping"] = _is_mapping
    env.tests["list"] = _is_list
    return env


def render_page(document: Mapping[str, Any], lang: str = "zh") -> str:
    """The export as one HTML document in ``lang`` (zh or en)."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}")
    sections = [(name, _pick(HEADINGS[name], lang), document[name]) for name in SECTIONS]
    return (
        environment()
        .get_template("export.html.j2")
        .render(
            lang=lang,
            text={key: _pick(pair, lang) for key, pair in TEXT.items()},
            document=document,
            sections=sections,
            label=lambda name: label(name, lang),
        )
    )
