"""Fixed vocabularies and shares of the synthetic world (Chinese consumer and micro-business lending).

Kept apart from the generators so the numbers that shape the population can be read and tuned in
one place; the generators only sample from them.
"""

from __future__ import annotations

from datetime import date

SOCIAL_SOURCES: tuple[str, ...] = ("wechat", "weibo", "douyin")
# The lender's own app: emergency contacts are declared there and device records come from it.
APP_SOURCE = "app"
SOURCES: tuple[str, ...] = (*SOCIAL_SOURCES, APP_SOURCE)
# Share of people who use each social source (everyone uses wechat and the lender's app).
SOURCE_USE: dict[str, float] = {"wechat": 1.0, "weibo": 0.3, "douyin": 0.55, "app": 1.0}

REGION_SHARES: tuple[float, ...] = (0.07, 0.16, 0.22, 0.18, 0.20, 0.17)

# P(segment | region): rows follow REGION_TIERS, columns follow SEGMENTS.
SEGMENT_BY_REGION: tuple[tuple[float, ...], ...] = (
    (0.18, 0.12, 0.20, 0.35, 0.08, 0.00, 0.07),  # tier1
    (0.20, 0.10, 0.24, 0.30, 0.08, 0.01, 0.07),  # tier2
    (0.24, 0.08, 0.28, 0.24, 0.07, 0.02, 0.07),  # tier3
    (0.26, 0.06, 0.30, 0.18, 0.06, 0.06, 0.08),  # tier4
    (0.27, 0.05, 0.28, 0.12, 0.05, 0.15, 0.08),  # county
    (0.18, 0.03, 0.22, 0.05, 0.03, 0.42, 0.07),  # rural
)

# Monthly income: median CNY in a tier-3 city and lognormal sigma, per segment.
INCOME_MEDIAN: tuple[float, ...] = (7000, 8000, 5500, 6500, 1500, 3500, 4000)
INCOME_SIGMA: tuple[float, ...] = (0.75, 0.8, 0.45, 0.5, 0.6, 0.55, 0.7)
REGION_INCOME_FACTOR: tuple[float, ...] = (1.7, 1.3, 1.0, 0.85, 0.7, 0.55)

# Age per segment: mean, sd, lowest, highest.
AGE: tuple[tuple[float, float, int, int], ...] = (
    (40, 9, 20, 65),
    (29, 4, 20, 40),
    (36, 10, 18, 60),
    (35, 9, 21, 60),
    (20.5, 2, 18, 28),
    (46, 10, 20, 70),
    (38, 13, 18, 70),
)
MINOR_SHARE = 0.002  # a few 16-17 year olds, so that policy rules on age have work to do
MALE_SHARE: tuple[float, ...] = (0.55, 0.6, 0.7, 0.5, 0.5, 0.55, 0.5)

# Creditworthiness offsets (higher is better) by segment and region, in latent standard deviations.
SEGMENT_CREDIT: tuple[float, ...] = (0.0, -0.25, -0.1, 0.3, -0.35, -0.05, -0.2)
REGION_CREDIT: tuple[float, ...] = (0.15, 0.1, 0.0, -0.05, -0.1, -0.15)

# Historical loans: median amount (CNY) and term menu with weights, per segment.
LOAN_MEDIAN: tuple[float, ...] = (30000, 40000, 8000, 15000, 3000, 20000, 8000)
BUSINESS_TERMS: tuple[tuple[int, ...], tuple[float, ...]] = (
    (6, 12, 24, 36),
    (0.15, 0.45, 0.3, 0.1),
)
CONSUMER_TERMS: tuple[tuple[int, ...], tuple[float, ...]] = ((3, 6, 12, 24), (0.2, 0.35, 0.35, 0.1))
BUSINESS_SEGMENTS = frozenset({"individual_business", "young_entrepreneur", "farmer"})

OCCUPATIONS: dict[str, tuple[str, ...]] = {
    "individual_business": (
        "便利店店主",
        "餐馆老板",
        "水果摊主",
        "服装店店主",
        "手机维修店店主",
        "美发店店主",
        "早餐店老板",
        "五金店店主",
        "快递代收点经营者",
        "网店店主",
    ),
    "young_entrepreneur": (
        "电商创业者",
        "直播带货主播",
        "小程序开发创业者",
        "奶茶店合伙人",
        "设计工作室创始人",
        "短视频工作室创始人",
        "跨境电商创业者",
    ),
    "blue_collar": (
        "建筑工人",
        "快递员",
        "外卖骑手",
        "工厂操作工",
        "网约车司机",
        "保安",
        "电工",
        "装修工人",
        "货车司机",
        "保洁员",
    ),
    "salaried": (
        "公司职员",
        "教师",
        "护士",
        "会计",
        "销售经理",
        "程序员",
        "行政专员",
        "银行柜员",
    ),
    "student": ("大学生", "研究生", "职校学生"),
    "farmer": ("种植户", "养殖户", "果农", "茶农", "渔民", "农机手"),
    "other": ("自由职业者", "待业", "退休人员", "家庭主妇", "兼职", "个体司机"),
}
MINOR_OCCUPATION = "高中生"

SURNAMES: tuple[str, ...] = (
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Gao",
    "Lin",
    "Luo",
    "Zheng",
    "Liang",
    "Xie",
    "Song",
    "Tang",
)
GIVEN_SYLLABLES: tuple[str, ...] = (
    "wei",
    "fang",
    "na",
    "min",
    "jing",
    "li",
    "qiang",
    "lei",
    "jun",
    "yang",
    "yong",
    "yan",
    "jie",
    "juan",
    "tao",
    "ming",
    "chao",
    "xiu",
    "xia",
    "ping",
    "gang",
    "hua",
    "hui",
    "ying",
    "bo",
    "hao",
    "yu",
    "xin",
    "yi",
    "lin",
    "peng",
    "fei",
    "dan",
    "kai",
    "jian",
    "zhi",
    "xiao",
    "rui",
    "ting",
    "qing",
)
PHONE_SECOND_DIGIT: tuple[tuple[int, ...], tuple[float, ...]] = (
    (3, 5, 8, 7, 9, 6, 4),
    (0.3, 0.25, 0.25, 0.08, 0.07, 0.03, 0.02),
)

# Other platforms a person may borrow from (fictitious names).
LENDERS: tuple[str, ...] = (
    "jinhe_xiaodai",
    "huayu_consumer",
    "xinghe_bank",
    "anxin_jiekuan",
    "lianyou_finance",
    "baifu_credit",
    "yunqian_dai",
    "dongfang_cc",
    "kuaijie_loan",
    "minsheng_xiaowei",
    "taoli_finance",
    "shunda_credit",
)

# Lucky red-packet amounts (CNY) and how often each is chosen.
RED_PACKETS: tuple[tuple[float, ...], tuple[float, ...]] = (
    (6.66, 8.88, 16.8, 18.88, 20.0, 50.0, 66.0, 66.66, 88.0, 88.88, 168.0, 200.0),
    (0.14, 0.16, 0.06, 0.08, 0.1, 0.08, 0.1, 0.08, 0.08, 0.06, 0.03, 0.03),
)

# Spring Festival: red packets cluster in its month.
SPRING_FESTIVAL: tuple[date, ...] = (
    date(2015, 2, 19),
    date(2016, 2, 8),
    date(2017, 1, 28),
    date(2018, 2, 16),
    date(2019, 2, 5),
    date(2020, 1, 25),
    date(2021, 2, 12),
    date(2022, 2, 1),
    date(2023, 1, 22),
    date(2024, 2, 10),
    date(2025, 1, 29),
    date(2026, 2, 17),
    date(2027, 2, 6),
    date(2028, 1, 26),
    date(2029, 2, 13),
    date(2030, 2, 3),
)

# Consent text versions shown from the given date on.
CONSENT_TEXT_VERSIONS: tuple[tuple[date, str], ...] = (
    (date(2000, 1, 1), "2022.1"),
    (date(2024, 1, 1), "2024.1"),
    (date(2025, 7, 1), "2025.2"),
)
