"""Reason codes: why a score is not higher, in plain Chinese and English.

A scorecard's reasons are the variables that cost the applicant the most points against the
best bin of that variable: at most four, the largest loss first, ties broken by variable name,
so equal inputs always give equal reasons. A variable in its best bin never appears.

The text of a reason depends on where the applicant's value sits: a numeric value below the
best bin ("low"), above it ("high"), missing, a special code, or a category ("group"). Product
features have hand-written, borrower-facing texts in ``CATALOGUE`` (the kind of statement a
lender may give a declined applicant); columns of an analyst's own table get a generic text
built from the column name. The texts are written into the scorecard artifact when it is
exported, so a deployed card always says what was approved with it.

This module needs only numpy and the standard library: the artifact scorer imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

MAX_REASONS = 4

Side = Literal["low", "high", "level", "missing", "special", "group"]
SIDES: tuple[Side, ...] = ("low", "high", "level", "missing", "special", "group")
_SUFFIX: dict[Side, str] = {
    "low": "-L",
    "high": "-H",
    "level": "",
    "missing": "-M",
    "special": "-S",
    "group": "",
}


@dataclass(frozen=True)
class ReasonText:
    """The code and the two texts one bin of one variable gives as a reason."""

    code: str
    zh: str
    en: str


@dataclass(frozen=True)
class Reason:
    """One reason for one score: which variable, how many points it cost, and what to say."""

    code: str
    variable: str
    points_lost: float
    zh: str
    en: str


@dataclass(frozen=True)
class CatalogueEntry:
    """Borrower-facing wording for one product feature.

    ``topic`` names the feature as a noun phrase; ``low``/``high``/``group`` are full statements
    for a value that cost points by being below or above the best bin, or by falling in a
    category; any that is ``None`` falls back to a sentence built from the topic.
    """

    code: str
    topic: tuple[str, str]
    low: tuple[str, str] | None = None
    high: tuple[str, str] | None = None
    group: tuple[str, str] | None = None


def _e(
    code: str,
    topic: tuple[str, str],
    *,
    low: tuple[str, str] | None = None,
    high: tuple[str, str] | None = None,
    group: tuple[str, str] | None = None,
) -> CatalogueEntry:
    return CatalogueEntry(code, topic, low, high, group)


# Codes by family: B behaviour, A activity, I interaction, C circle, L other lenders,
# D devices, S network structure, E exposure to defaulters, F mutual friends, K community.
CATALOGUE: dict[str, CatalogueEntry] = {
    "segment": _e(
        "B01",
        ("客户类别", "customer group"),
        group=(
            "您所属客户类别的整体还款表现较弱",
            "borrowers in your customer group repay less reliably",
        ),
    ),
    "region_tier": _e(
        "B02",
        ("所在地区", "area"),
        group=("您所在地区借款人的整体还款表现较弱", "borrowers in your area repay less reliably"),
    ),
    "age_years": _e(
        "B03",
        ("年龄", "age"),
        low=("年龄较轻，信用经历较短", "young age and a short credit history"),
    ),
    "income_monthly_fen": _e(
        "B04",
        ("月收入", "monthly income"),
        low=("月收入较低", "low monthly income"),
    ),
    "account_age_days": _e(
        "A01",
        ("在本平台的注册时长", "time as our customer"),
        low=("在本平台注册时间较短", "short time as our customer"),
    ),
    "interactions_7d": _e(
        "A02",
        ("近7天的社交互动", "social activity in the last 7 days"),
        low=("近7天社交互动较少", "little social activity in the last 7 days"),
        high=("近7天社交互动异常频繁", "unusually heavy social activity in the last 7 days"),
    ),
    "interactions_30d": _e(
        "A03",
        ("近30天的社交互动", "social activity in the last 30 days"),
        low=("近30天社交互动较少", "little social activity in the last 30 days"),
        high=("近30天社交互动异常频繁", "unusually heavy social activity in the last 30 days"),
    ),
    "interactions_90d": _e(
        "A04",
        ("近90天的社交互动", "social activity in the last 90 days"),
        low=("近90天社交互动较少", "little social activity in the last 90 days"),
        high=("近90天社交互动异常频繁", "unusually heavy social activity in the last 90 days"),
    ),
    "outgoing_90d": _e(
        "I01",
        ("近90天主动联系他人的情况", "contacts you started in the last 90 days"),
        low=("近90天主动联系他人较少", "few contacts started by you in the last 90 days"),
        high=(
            "近90天主动联系他人异常频繁",
            "unusually many contacts started by you in the last 90 days",
        ),
    ),
    "transfer_out_fen_90d": _e(
        "I02",
        ("近90天的转出金额", "money sent in the last 90 days"),
        low=("近90天转出金额较少", "little money sent in the last 90 days"),
        high=("近90天转出金额较大", "large amounts of money sent in the last 90 days"),
    ),
    "transfer_in_fen_90d": _e(
        "I03",
        ("近90天的收到金额", "money received in the last 90 days"),
        low=("近90天收到的转账较少", "little money received in the last 90 days"),
        high=("近90天收到的转账异常多", "unusually large amounts received in the last 90 days"),
    ),
    "partners_90d": _e(
        "C01",
        ("近90天联系的人数", "people you were in touch with in the last 90 days"),
        low=("近90天联系的人较少", "few people in touch with you in the last 90 days"),
        high=("近90天联系的人数异常多", "unusually many people contacted in the last 90 days"),
    ),
    "reciprocity_90d": _e(
        "I04",
        ("双向往来的联系人占比", "the share of two-way relationships"),
        low=("双向往来的联系人占比较低", "few two-way relationships among your contacts"),
    ),
    "active_days_90d": _e(
        "A05",
        ("近90天的活跃天数", "active days in the last 90 days"),
        low=("近90天活跃天数较少", "few active days in the last 90 days"),
    ),
    "active_minutes_30d": _e(
        "A06",
        ("近30天的在线时长", "time active in the last 30 days"),
        low=("近30天在线时长较短", "little time active in the last 30 days"),
        high=("近30天在线时长异常多", "unusually long time active in the last 30 days"),
    ),
    "posts_30d": _e(
        "A07",
        ("近30天的发布数", "posts in the last 30 days"),
        low=("近30天发布内容较少", "few posts in the last 30 days"),
        high=("近30天发布内容异常多", "unusually many posts in the last 30 days"),
    ),
    "logins_30d": _e(
        "A08",
        ("近30天的登录次数", "logins in the last 30 days"),
        low=("近30天登录次数较少", "few logins in the last 30 days"),
        high=("近30天登录次数异常多", "unusually many logins in the last 30 days"),
    ),
    "posts_trend": _e(
        "A09",
        ("发布内容的变化", "change in posting"),
        low=("近期发布内容明显减少", "a recent drop in posting"),
        high=("近期发布内容突然增多", "a sudden rise in posting"),
    ),
    "logins_trend": _e(
        "A10",
        ("登录次数的变化", "change in logins"),
        low=("近期登录明显减少", "a recent drop in logins"),
        high=("近期登录突然增多", "a sudden rise in logins"),
    ),
    "degree": _e(
        "C02",
        ("社交圈大小", "the size of your circle of contacts"),
        low=("社交圈较小", "a small circle of contacts"),
        high=("社交圈异常庞大", "an unusually large circle of contacts"),
    ),
    "new_ties_30d": _e(
        "C03",
        ("近30天新增的联系人", "contacts added in the last 30 days"),
        low=("近30天新增联系人较少", "few contacts added in the last 30 days"),
        high=("近30天新增联系人较多", "many contacts added in the last 30 days"),
    ),
    "new_tie_share_30d": _e(
        "C04",
        ("新近添加的联系人占比", "the share of recently added contacts"),
        high=("联系人中新近添加的占比较高", "a large share of recently added contacts"),
    ),
    "degree_family": _e(
        "C05",
        ("家人联系人", "family members among your contacts"),
        low=("登记的家人联系人较少", "few family members among your contacts"),
    ),
    "degree_emergency_contact": _e(
        "C06",
        ("紧急联系人", "emergency contacts"),
        low=("紧急联系人较少", "few emergency contacts"),
    ),
    "degree_friend": _e(
        "C07",
        ("好友数量", "your number of friends"),
        low=("好友较少", "few friends among your contacts"),
        high=("好友数量异常多", "an unusually large number of friends"),
    ),
    "degree_colleague": _e(
        "C08",
        ("同事联系人", "colleagues among your contacts"),
        low=("同事联系人较少", "few colleagues among your contacts"),
        high=("同事联系人异常多", "an unusually large number of colleagues"),
    ),
    "degree_contact": _e(
        "C09",
        ("通讯录联系人", "address-book contacts"),
        low=("通讯录联系人较少", "few address-book contacts"),
        high=("通讯录联系人异常多", "an unusually large address book"),
    ),
    "degree_follow": _e(
        "C10",
        ("关注关系", "follow connections"),
        low=("关注关系较少", "few follow connections"),
        high=("关注关系异常多", "unusually many follow connections"),
    ),
    "social_age_days": _e(
        "A11",
        ("社交账号的使用时长", "how long you have had social connections"),
        low=("社交账号使用时间较短", "a short history of social connections"),
    ),
    "ext_loans": _e(
        "L01",
        ("在其他机构的借款", "loans with other lenders"),
        high=("在其他机构的借款笔数较多", "many loans with other lenders"),
    ),
    "ext_open_loans": _e(
        "L02",
        ("在其他机构未结清的借款", "open loans with other lenders"),
        high=("在其他机构未结清的借款较多", "many open loans with other lenders"),
    ),
    "ext_overdue_loans": _e(
        "L03",
        ("在其他机构的逾期借款", "overdue loans with other lenders"),
        high=("在其他机构有逾期借款", "overdue loans with other lenders"),
    ),
    "ext_written_off": _e(
        "L04",
        ("在其他机构的坏账记录", "loans written off by other lenders"),
        high=("在其他机构有坏账核销记录", "loans written off by other lenders"),
    ),
    "ext_max_dpd": _e(
        "L05",
        ("在其他机构的逾期天数", "late payment with other lenders"),
        high=("在其他机构曾长时间逾期", "a history of late payment with other lenders"),
    ),
    "ext_open_amount_fen": _e(
        "L06",
        ("在其他机构的未还金额", "the amount owed to other lenders"),
        high=("在其他机构的未还金额较高", "large amounts owed to other lenders"),
    ),
    "ext_lenders": _e(
        "L07",
        ("借款机构数量", "the number of lenders you use"),
        high=("向多家机构借款", "borrowing from many lenders"),
    ),
    "devices": _e(
        "D01",
        ("使用的设备数量", "the number of devices you use"),
        high=("账户使用的设备数量较多", "many devices used on your account"),
    ),
    "max_people_per_device": _e(
        "D02",
        ("设备的共用人数", "how many people share your devices"),
        high=("您使用的设备被多人使用", "a device you use is used by many people"),
    ),
    "graph_degree": _e(
        "S01",
        ("社交网络中的联系", "connections in your network"),
        low=("社交网络中的联系较少", "few connections in your network"),
        high=("社交网络中的联系异常多", "unusually many connections in your network"),
    ),
    "tie_strength_sum": _e(
        "I05",
        ("与联系人关系的紧密程度", "your closeness to your contacts"),
        low=("与联系人的整体联系较弱", "weak ties with your contacts overall"),
    ),
    "tie_strength_mean": _e(
        "I06",
        ("与联系人的平均紧密程度", "your average closeness to your contacts"),
        low=("与联系人的联系普遍较弱", "ties with your contacts are weak on average"),
    ),
    "tie_strength_max": _e(
        "I07",
        ("最紧密的联系人", "your closest contact"),
        low=("缺少关系紧密的联系人", "no close contact"),
    ),
    "strong_ties": _e(
        "I08",
        ("关系紧密的联系人", "close contacts"),
        low=("关系紧密的联系人较少", "few close contacts"),
    ),
    "strong_tie_share": _e(
        "I09",
        ("关系紧密的联系人占比", "the share of close contacts"),
        low=("关系紧密的联系人占比较低", "a small share of close contacts"),
    ),
    "mutual_friends_mean": _e(
        "F01",
        ("共同好友", "mutual friends"),
        low=("与联系人的共同好友较少", "few mutual friends with your contacts"),
    ),
    "mutual_friends_median": _e(
        "F02",
        ("与多数联系人的共同好友", "mutual friends with most contacts"),
        low=("与多数联系人的共同好友较少", "few mutual friends with most of your contacts"),
    ),
    "reach_2hop": _e(
        "C11",
        ("社交网络的覆盖面", "the reach of your wider network"),
        low=("社交网络覆盖面较窄", "a narrow wider network"),
        high=("社交网络覆盖面异常广", "an unusually wide network"),
    ),
    "clustering": _e(
        "S02",
        ("联系人之间的相互关系", "how your contacts know each other"),
        low=("联系人之间相互认识的较少", "few of your contacts know each other"),
        high=("联系人之间的关系异常封闭集中", "your contacts form an unusually closed group"),
    ),
    "pagerank": _e(
        "S03",
        ("在社交网络中的位置", "your position in your network"),
        low=("与社交网络中活跃人群的联系较少", "few links to well-connected people"),
    ),
    "default_exposure": _e(
        "E01",
        ("与逾期人员的关联", "links to people with overdue loans"),
        high=("与您联系密切的人中有逾期记录", "close contacts with overdue loans"),
    ),
    "good_exposure": _e(
        "E02",
        ("与按时还款人员的关联", "links to people who repay on time"),
        low=("与按时还款的人联系较少", "few contacts with a good repayment record"),
    ),
    "default_exposure_ratio": _e(
        "E03",
        ("联系人中的逾期情况", "overdue loans among your contacts"),
        high=(
            "联系人中有逾期记录的比例高于一般水平",
            "more contacts with overdue loans than usual",
        ),
    ),
    "defaulted_contacts": _e(
        "E04",
        ("联系人的违约情况", "contacts who defaulted"),
        high=("有联系人曾发生违约", "contacts who have defaulted"),
    ),
    "defaulted_share_1hop": _e(
        "E05",
        ("亲近联系人的违约比例", "the share of close contacts who defaulted"),
        high=("关系紧密的联系人中违约比例较高", "a high share of close contacts who defaulted"),
    ),
    "defaulted_share_2hop": _e(
        "E06",
        ("二度联系人的违约比例", "defaults among your contacts' contacts"),
        high=("联系人的联系人中违约比例较高", "many defaults among your contacts' contacts"),
    ),
    "community": _e(
        "K01",
        ("所在社交群体", "your social group"),
        group=("您所在社交群体的整体风险较高", "higher risk in your social group"),
    ),
    "community_size": _e(
        "K02",
        ("所在社交群体的规模", "the size of your social group"),
        low=("所在社交群体规模较小", "a small social group"),
    ),
    "communities_reached": _e(
        "C12",
        ("联系人所属群体的数量", "the number of groups among your contacts"),
        low=("联系人集中在少数群体中", "contacts concentrated in few groups"),
    ),
    "community_default_rate": _e(
        "K03",
        ("所在社交群体的违约率", "the default rate in your social group"),
        high=("所在社交群体的违约率较高", "a high default rate in your social group"),
    ),
    "device_sharers": _e(
        "D03",
        ("与他人共用设备", "devices shared with others"),
        high=("有其他人与您共用设备", "other people use your devices"),
    ),
    "device_defaulters": _e(
        "D04",
        ("共用设备者的违约情况", "defaults among people sharing your devices"),
        high=("与您共用设备的人中有违约记录", "someone sharing your device has defaulted"),
    ),
    "multilayer_exposure": _e(
        "E07",
        ("通过联系人或设备与违约人员的关联", "links to defaulters through contacts or devices"),
        high=(
            "通过联系人或共用设备与违约人员存在关联",
            "links to defaulters through contacts or shared devices",
        ),
    ),
}


# What the person's contacts look like (``features/neighbours.py``): worded from the topic of the
# underlying feature, e.g. "your contacts' monthly income". A test keeps the list equal to the
# feature build's neighbour columns; the words are kept here so the scorer needs no graph code.
_NEIGHBOUR_SCOPES = (
    ("nbr1_mean", "您的联系人的", "your contacts' "),
    ("nbr1_max", "您的联系人中最高的", "the highest among your contacts' "),
    ("nbr2_mean", "您联系人的联系人的", "your contacts' contacts' "),
    ("nbr2_max", "您联系人的联系人中最高的", "the highest among your contacts' contacts' "),
)
# The underlying features as nouns that read after "your contacts'": the catalogue's own topics
# are phrased for the borrower ("the number of lenders you use") and do not compose.
NEIGHBOUR_BASES: dict[str, tuple[str, str]] = {
    "income_monthly_fen": ("月收入", "monthly income"),
    "ext_open_loans": ("在其他机构未结清的借款", "open loans with other lenders"),
    "ext_max_dpd": ("在其他机构的逾期天数", "days late with other lenders"),
    "ext_lenders": ("借款机构数量", "number of lenders"),
    "interactions_30d": ("近30天的社交互动", "social activity in the last 30 days"),
    "account_age_days": ("在本平台的注册时长", "time as our customers"),
}
for _number, (_base, (_stat, _zh, _en)) in enumerate(
    ((b, scope) for b in NEIGHBOUR_BASES for scope in _NEIGHBOUR_SCOPES), start=1
):
    _noun_zh, _noun_en = NEIGHBOUR_BASES[_base]
    CATALOGUE[f"{_stat}_{_base}"] = _e(f"N{_number:02d}", (_zh + _noun_zh, _en + _noun_en))


def _from_topic(topic: tuple[str, str], side: Side) -> tuple[str, str]:
    zh, en = topic
    if side == "missing":
        return f"缺少{zh}信息", f"no information on {en}"
    if side == "special":
        return f"{zh}的记录情况不利", f"the record of {en} counts against you"
    return f"{zh}不在最有利的范围", f"{en} outside the most favourable range"


def _generic(column: str, side: Side) -> tuple[str, str]:
    """Wording for a column the catalogue does not know: an analyst's own table."""
    if side == "low":
        return f"「{column}」低于最有利的区间", f"{column} is lower than its most favourable range"
    if side == "high":
        return f"「{column}」高于最有利的区间", f"{column} is higher than its most favourable range"
    if side == "missing":
        return f"缺少「{column}」", f"{column} was not provided"
    if side == "special":
        return f"「{column}」为特殊值", f"{column} holds a special value"
    if side == "group":
        return f"「{column}」不属于最有利的类别", f"{column} is not in its most favourable group"
    return f"「{column}」未达到最有利水平", f"{column} is not at its most favourable level"


def reason_text(variable: str, side: Side) -> ReasonText:
    """The code and texts for ``variable`` losing points on ``side`` of its best bin."""
    entry = CATALOGUE.get(variable)
    if entry is None:
        zh, en = _generic(variable, side)
        return ReasonText(f"X:{variable}{_SUFFIX[side]}", zh, en)
    chosen = {"low": entry.low, "high": entry.high, "group": entry.group}.get(side)
    zh, en = chosen if chosen is not None else _from_topic(entry.topic, side)
    return ReasonText(entry.code + _SUFFIX[side], zh, en)


def loss_ranks(lost: Sequence[float], names: Sequence[str]) -> npt.NDArray[np.integer[Any]]:
    """Rank every (variable, bin) entry as a reason: largest loss first, ties by variable name.

    ``lost[i]`` and ``names[i]`` describe entry ``i``; entries that lose nothing rank
    ``len(lost)``, meaning "no reason". One row holds one bin per variable, so its reasons are
    simply its entries with the smallest ranks.
    """
    order = sorted(
        (i for i in range(len(lost)) if lost[i] > 0.0), key=lambda i: (-lost[i], names[i])
    )
    ranks = np.full(len(lost), len(lost), dtype=np.int32)
    ranks[order] = np.arange(len(order), dtype=np.int32)
    # int16 when it fits: half the memory traffic in the batch scorer.
    return ranks.astype(np.int16) if len(lost) < 2**15 else ranks


def smallest_ranks(
    ranks: npt.NDArray[np.integer[Any]], none: int, k: int = MAX_REASONS
) -> npt.NDArray[np.integer[Any]]:
    """Per column of ``ranks`` (variables, rows): its ``k`` smallest ranks, ascending; ``none`` pads.

    A running sorted top-k, updated one variable at a time with element-wise min/max over
    whole rows (an insertion network): no per-row sort and no large temporaries. A row's ranks
    are distinct (one bin per variable), so the result has no repeats.
    """
    m = ranks.shape[1]
    top = [np.full(m, none, dtype=ranks.dtype) for _ in range(k)]
    above = np.empty(m, dtype=ranks.dtype)
    for row in ranks:
        for i in range(k - 1, 0, -1):
            np.maximum(top[i - 1], row, out=above)
            np.minimum(top[i], above, out=top[i])
        np.minimum(top[0], row, out=top[0])
    return np.stack(top, axis=1)


def rank_row(
    losses: list[tuple[float, str, int]], k: int = MAX_REASONS
) -> list[tuple[float, str, int]]:
    """The ``k`` largest positive losses of one row as (lost, variable, bin), largest first."""
    positive = [item for item in losses if item[0] > 0.0]
    positive.sort(key=lambda item: (-item[0], item[1]))
    return positive[:k]
