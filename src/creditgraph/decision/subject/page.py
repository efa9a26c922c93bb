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
        )
    )
