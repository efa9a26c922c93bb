"""Every feature with its family, definition, why it predicts credit risk and where it comes from.

A test keeps this catalogue equal to the columns the build produces, and docs/features.md is
rendered from it, so no feature exists without its explanation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from creditgraph.privacy.purpose import CREDIT_ASSESSMENT, DataClass, Declaration, declare

OSKARSDOTTIR_2019 = "Óskarsdóttir et al. (2019), The value of big data for credit scoring, Applied Soft Computing 74"
OSKARSDOTTIR_2021 = (
    "Óskarsdóttir & Bravo (2021), Multilayer network analysis for credit risk, Omega 105"
)
WEI_2016 = "Wei, Yildirim, Van den Bulte & Dellarocas (2016), Credit scoring with social network data, Marketing Science 35(2)"
DE_CNUDDE_2019 = "De Cnudde et al. (2019), What does your Facebook profile reveal about your creditworthiness?, JORS 70(3)"
GADBENCH = "Tang et al. (2023), GADBench: revisiting and benchmarking supervised graph anomaly detection, NeurIPS"


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    definition: str
    why: str
    source: str = ""


_F = Feature
FEATURES: tuple[Feature, ...] = (
    _F(
        "segment",
        "behaviour",
        "Declared customer segment.",
        "Repayment capacity and income stability differ by segment.",
    ),
    _F(
        "region_tier",
        "behaviour",
        "City tier, county or rural.",
        "Income level and local economic shocks differ by region.",
    ),
    _F(
        "age_years",
        "behaviour",
        "As-of year minus birth year.",
        "Policy (under 18) and life-cycle risk.",
    ),
    _F(
        "income_monthly_fen",
        "behaviour",
        "Declared monthly income in fen.",
        "Repayment capacity; also the base of limits.",
    ),
    _F(
        "account_age_days",
        "activity",
        "Days since the person registered with the lender.",
        "New accounts carry more application fraud.",
    ),
    _F(
        "interactions_7d",
        "activity",
        "Interaction count (both directions) in the 7 days before the as-of date.",
        "Current engagement; a sudden drop precedes distress.",
    ),
    _F("interactions_30d", "activity", "Same, 30 days.", "Engagement level."),
    _F("interactions_90d", "activity", "Same, 90 days.", "Engagement level, longer window."),
    _F(
        "outgoing_90d",
        "interaction",
        "Interactions the person started, 90 days.",
        "Initiative in the relationship network.",
    ),
    _F(
        "transfer_out_fen_90d",
        "interaction",
        "Money sent by transfer or red packet, 90 days, fen.",
        "Financial obligations and generosity towards the circle.",
    ),
    _F(
        "transfer_in_fen_90d",
        "interaction",
        "Money received, 90 days, fen.",
        "Informal support the person can draw on.",
    ),
    _F(
        "partners_90d",
        "circle",
        "Distinct interaction partners, 90 days.",
        "Breadth of the active circle.",
        DE_CNUDDE_2019,
    ),
    _F(
        "reciprocity_90d",
        "interaction",
        "Share of partners with interactions in both directions.",
        "Reciprocal ties are real relationships, not spam or one-way contacts.",
        WEI_2016,
    ),
    _F(
        "active_days_90d",
        "activity",
        "Days with active minutes in the 90 days before.",
        "Regular activity marks a real, stable account.",
    ),
    _F(
        "active_minutes_30d", "activity", "Active minutes in the last 30 days.", "Engagement level."
    ),
    _F("posts_30d", "activity", "Posts in the last 30 days.", "Engagement level."),
    _F("logins_30d", "activity", "Logins in the last 30 days.", "Engagement level."),
    _F(
        "posts_trend",
        "activity",
        "(posts last 30 days - posts 30 days before) / (posts before + 1).",
        "An activity collapse precedes distress and flight.",
    ),
    _F(
        "logins_trend",
        "activity",
        "Same, for logins.",
        "An activity collapse precedes distress and flight.",
    ),
    _F(
        "degree",
        "circle",
        "Distinct people joined by a declared tie that existed at the as-of date.",
        "Circle size: social capital, but also chance exposure.",
        DE_CNUDDE_2019,
    ),
    _F(
        "new_ties_30d",
        "circle",
        "Ties formed in the last 30 days.",
        "Rings and mule accounts build circles fast just before applying.",
    ),
    _F(
        "new_tie_share_30d",
        "circle",
        "new_ties_30d / degree.",
        "Share of the circle that is brand new.",
    ),
    _F(
        "degree_family",
        "circle",
        "Degree over family ties.",
        "Family ties are the strongest informal guarantee.",
    ),
    _F(
        "degree_emergency_contact",
        "circle",
        "Degree over emergency-contact ties.",
        "Declared guarantor-like contacts.",
    ),
    _F("degree_friend", "circle", "Degree over friend ties.", "Circle composition."),
    _F("degree_colleague", "circle", "Degree over colleague ties.", "Work embeddedness."),
    _F("degree_contact", "circle", "Degree over address-book contacts.", "Circle composition."),
    _F("degree_follow", "circle", "Degree over follows.", "Weak, one-way ties."),
    _F(
        "social_age_days",
        "activity",
        "Days since the person's first tie still alive (missing when none).",
        "Old social accounts are hard to fake; fraud rings use new ones.",
    ),
    _F(
        "ext_loans",
        "multi-lending",
        "Loans on other platforms, latest report before the as-of date.",
        "Multi-lending is the strongest behavioural risk signal in Chinese online lending.",
    ),
    _F(
        "ext_open_loans",
        "multi-lending",
        "Of those, open or overdue.",
        "Current debt burden elsewhere.",
    ),
    _F("ext_overdue_loans", "multi-lending", "Of those, overdue.", "Active delinquency elsewhere."),
    _F("ext_written_off", "multi-lending", "Of those, written off.", "Past default elsewhere."),
    _F(
        "ext_max_dpd",
        "multi-lending",
        "Worst days past due on any loan elsewhere.",
        "Repayment history.",
    ),
    _F(
        "ext_open_amount_fen",
        "multi-lending",
        "Outstanding amount elsewhere, fen.",
        "Debt-to-income.",
    ),
    _F(
        "ext_lenders",
        "multi-lending",
        "Distinct lenders.",
        "Shopping around many lenders signals distress.",
    ),
    _F(
        "devices",
        "devices",
        "Distinct devices seen before the as-of date.",
        "Many devices per person is an account-farming signal.",
    ),
    _F(
        "max_people_per_device",
        "devices",
        "Most people seen on one of the person's devices.",
        "Shared devices link fraud rings.",
    ),
    _F(
        "graph_degree",
        "structure",
        "Neighbours in the weighted graph (ties and interactions).",
        "Size of the as-of neighbourhood.",
    ),
    _F(
        "tie_strength_sum",
        "interaction",
        "Sum of tie strengths (kind weight x (1 + ln(1 + decayed interactions)) x reciprocity).",
        "Total strength of the circle.",
        WEI_2016,
    ),
    _F(
        "tie_strength_mean",
        "interaction",
        "Mean tie strength.",
        "Quality rather than quantity of ties.",
    ),
    _F(
        "tie_strength_max",
        "interaction",
        "Strongest tie.",
        "Whether the person has at least one close tie.",
    ),
    _F(
        "strong_ties",
        "interaction",
        "Ties in the top quarter of strength over the whole graph.",
        "Close ties carry repayment pressure and support.",
    ),
    _F(
        "strong_tie_share",
        "interaction",
        "strong_ties / graph_degree.",
        "Share of the circle that is close.",
    ),
    _F(
        "mutual_friends_mean",
        "mutual friends",
        "Mean common neighbours over the person's ties.",
        "Embedded ties (many mutual friends) enforce repayment through reputation.",
        WEI_2016,
    ),
    _F(
        "mutual_friends_median",
        "mutual friends",
        "Median of the same.",
        "Robust to one large shared group.",
    ),
    _F("reach_2hop", "circle", "Distinct people within two hops.", "Breadth of the wider network."),
    _F(
        "clustering",
        "structure",
        "Local clustering coefficient (unweighted).",
        "Dense circles are tight communities; very high density among new accounts marks rings.",
    ),
    _F(
        "pagerank",
        "structure",
        "PageRank x number of nodes (1 = average).",
        "Centrality: well-connected people have more to lose.",
    ),
    _F(
        "default_exposure",
        "risk exposure",
        "Personalised PageRank seeded on people whose default was observed before the as-of date, out of fold, x number of nodes.",
        "The influence score: exposure to known defaulters, the strongest label signal in published work.",
        OSKARSDOTTIR_2019,
    ),
    _F(
        "good_exposure",
        "risk exposure",
        "Same, seeded on people with observed good outcomes.",
        "Exposure to good payers offsets exposure to defaulters.",
        OSKARSDOTTIR_2019,
    ),
    _F(
        "default_exposure_ratio",
        "risk exposure",
        "Default exposure / plain PageRank: exposure relative to what chance gives a node of that centrality.",
        "A person with many contacts has some defaulted contact by chance; the ratio removes that.",
    ),
    _F(
        "defaulted_contacts",
        "risk exposure",
        "Neighbours whose default was observed before the as-of date, out of fold.",
        "Direct contagion and homophily.",
    ),
    _F(
        "defaulted_share_1hop",
        "risk exposure",
        "Tie-strength-weighted share of neighbours who defaulted, out of fold.",
        "Defaulted close contacts weigh more than distant ones.",
    ),
    _F(
        "defaulted_share_2hop",
        "risk exposure",
        "Same over weighted 2-hop paths, out of fold (paths back to the person carry no label of theirs).",
        "Second-degree exposure.",
    ),
    _F(
        "community",
        "community",
        "Leiden community (modularity, seeded) on the as-of graph.",
        "Identifier for the community-level features; not a model input.",
    ),
    _F(
        "community_size",
        "community",
        "People in the person's community.",
        "Small, isolated communities carry correlated shocks.",
    ),
    _F(
        "communities_reached",
        "circle",
        "Distinct communities among the person's neighbours.",
        "Bridging several groups is social capital.",
    ),
    _F(
        "community_default_rate",
        "community",
        "Defaults / known outcomes in the community, out of fold.",
        "Community-level shocks (a local industry, a village) hit together.",
    ),
    _F(
        "device_sharers",
        "devices",
        "People sharing at least one device with the person.",
        "Shared devices link accounts of one operator.",
    ),
    _F(
        "device_defaulters",
        "devices",
        "Of those, people whose default was observed, out of fold.",
        "A device shared with a defaulter is a strong fraud signal.",
    ),
    _F(
        "multilayer_exposure",
        "risk exposure",
        "Personalised PageRank seeded on defaulters over the social and device layers coupled (restart form), out of fold, x number of persons.",
        "Default risk spreads across layers: a device link to a defaulter's circle counts.",
        OSKARSDOTTIR_2021,
    ),
)


# Families computed on the credit graph (ties, interactions along them, the device layer, the
# neighbours' aggregates); the rest is the person's own declared, behavioural and credit data.
# The network lift of a model is measured by refitting it without these.
GRAPH_FAMILIES = frozenset(
    {
        "circle",
        "interaction",
        "mutual friends",
        "structure",
        "risk exposure",
        "community",
        "devices",
        "neighbours",
    }
)


# Families that come from social data (the graph families plus the social-activity counts): never
# used for a person without a credit_assessment consent; the ``no_social`` model learns without them.
SOCIAL_FAMILIES = GRAPH_FAMILIES | {"activity"}
NOT_SOCIAL = frozenset({"account_age_days"})  # the lender's own record of the account


def social_feature_names() -> frozenset[str]:
    """The features that need a credit_assessment consent."""
    return frozenset(
        f.name for f in all_features() if f.family in SOCIAL_FAMILIES and f.name not in NOT_SOCIAL
    )


# --- the neighbour aggregates (computed in features/neighbours.py) ---------------------------

DEFAULT_HUB_CAP = 200
STATS = ("nbr1_mean", "nbr1_max", "nbr2_mean", "nbr2_max")

# column -> why its neighbourhood predicts credit risk; none is derived from a default outcome
_WHY: dict[str, str] = {
    "income_monthly_fen": "Contacts' income is the informal safety net a person can draw on, "
    "and income clusters in circles.",
    "ext_open_loans": "Multi-lending spreads through circles (shared agents, copied habits); a "
    "circle loaded with open loans elsewhere is fragile.",
    "ext_max_dpd": "Arrears elsewhere among contacts mark a circle under financial stress; "
    "taken from other lenders' reports, never from this lender's outcomes.",
    "ext_lenders": "Contacts shopping around many lenders mark a circle in distress or an "
    "agent-driven ring.",
    "interactions_30d": "An active circle is a real one; a thin or quiet circle is easier to "
    "walk away from.",
    "account_age_days": "A circle of brand-new accounts is the signature of a fraud ring: rings "
    "register and apply together, before any of their labels is known.",
}
NEIGHBOUR_COLUMNS: tuple[str, ...] = tuple(_WHY)


def output_names(columns: Sequence[str]) -> list[str]:
    """Output columns after ``person_id``, per input column in the order of ``STATS``."""
    return [f"{stat}_{col}" for col in columns for stat in STATS]


def _catalogue(hub_cap: int = DEFAULT_HUB_CAP) -> tuple[Feature, ...]:
    out = []
    for col, why in _WHY.items():
        out += [
            Feature(
                f"nbr1_mean_{col}",
                "neighbours",
                f"Tie-strength-weighted mean of `{col}` over direct contacts with a known value; "
                "missing without one.",
                why + " The mean describes the typical contact.",
                GADBENCH,
            ),
            Feature(
                f"nbr1_max_{col}",
                "neighbours",
                f"Largest `{col}` among direct contacts.",
                why + " The max catches one extreme contact the mean would hide.",
                GADBENCH,
            ),
            Feature(
                f"nbr2_mean_{col}",
                "neighbours",
                f"Mean of `{col}` over the distinct people exactly two ties away (not the person, "
                f"not a direct contact; paths through a contact with more than {hub_cap} ties "
                "are not followed).",
                why + " The wider circle, less noisy than a few direct contacts.",
                GADBENCH,
            ),
            Feature(
                f"nbr2_max_{col}",
                "neighbours",
                f"Largest `{col}` among the same 2-hop people.",
                why + " One extreme friend of a friend.",
                GADBENCH,
            ),
        ]
    return tuple(out)


NEIGHBOUR_FEATURES: tuple[Feature, ...] = _catalogue()


def all_features() -> tuple[Feature, ...]:
    """Every column of a build: the families above, then the neighbour aggregates."""
    return (*FEATURES, *NEIGHBOUR_FEATURES)


def render_markdown() -> str:
    families: dict[str, list[Feature]] = {}
    for f in all_features():
        families.setdefault(f.family, []).append(f)
    lines = [
        "# Features",
        "",
        "Generated from `src/creditgraph/features/catalogue.py`; a test keeps this page, the",
        "catalogue and the built columns equal. Every feature of a person is computed **as of a date**",
        "from events strictly before midnight of that date in the business time zone.",
        "",
        "## Rules that hold for every feature",
        "",
        "- **Point in time.** Ties count if created before the as-of instant and not ended by then;",
        "  interactions, activity, devices and external-loan reports only if dated before it.",
        "- **Labels only once observed.** A default (or a good outcome) is a seed only if its",
        "  `observed_at` is before the as-of instant.",
        "- **Out of fold.** Every label-based feature is computed with 5 folds by a hash of the",
        "  pseudonym: a person in fold k sees only labels of people outside fold k. A person's own",
        "  outcome therefore never reaches their own features, not even along paths that return to",
        "  them. The same folds serve training and scoring, so both see the same feature.",
        "- **Zero, not missing.** A person with no rows in a family has zeros there; only",
        "  `social_age_days` is missing when the person has no tie.",
        "- **Gender is never a feature.** It is kept for fairness monitoring only.",
        "",
        "## The weighted credit graph",
        "",
        "One undirected edge per pair joined by a tie alive at the as-of date or by an interaction",
        "before it. `strength = kind weight x (1 + ln(1 + decayed count)) x reciprocity factor`,",
        "with kind weights family/emergency contact 1.0, friend 0.8, colleague 0.6, contact 0.4,",
        "follow 0.2 (interaction-only pairs 0.3), interactions decaying with a configurable half-life",
        "(default 60 days), and a factor 0.75 unless the pair is reciprocal (ties declared both ways",
        "or interactions in both directions). The device layer links people to devices seen before",
        "the as-of date. Edge cases: self-loops are rejected at ingest and dropped by the graph",
        "builder; several ties or interactions of one pair merge into one edge (strongest kind,",
        "summed interactions); contacts outside the lender's book are nodes of the graph (they",
        "shape structure and exposure) but get no feature row; an empty graph gives zeros.",
        "",
    ]
    for family, items in families.items():
        lines += [
            f"## {family}",
            "",
            "| feature | definition | why it predicts credit risk | source |",
            "|---|---|---|---|",
        ]
        lines += [f"| `{f.name}` | {f.definition} | {f.why} | {f.source} |" for f in items]
        lines.append("")
    return "\n".join(lines)


# -- purpose declarations ----------------------------------------------------------------------------
# Every family is read for credit assessment only; a test fails on a family without a declaration.

_C = DataClass
_SOCIAL_GRAPH = ("lake:ties", "lake:interactions")
FAMILY_DECLARATIONS: dict[str, Declaration] = {
    family: declare("feature_family", family, CREDIT_ASSESSMENT, classes, reads)
    for family, classes, reads in (
        ("behaviour", (_C.PROFILE, _C.INCOME), ("db:persons",)),
        (
            "activity",
            (_C.PROFILE, _C.INTERACTIONS, _C.ACTIVITY, _C.TIES),
            ("db:persons", "lake:interactions", "lake:activity_daily", "lake:ties"),
        ),
        ("interaction", (_C.INTERACTIONS, _C.TRANSFERS, _C.TIES), _SOCIAL_GRAPH),
        ("circle", (_C.TIES, _C.INTERACTIONS), _SOCIAL_GRAPH),
        ("multi-lending", (_C.EXTERNAL_LOANS,), ("db:external_loans",)),
        ("devices", (_C.DEVICES, _C.OUTCOMES), ("lake:devices", "db:loan_outcomes")),
        ("structure", (_C.TIES, _C.INTERACTIONS), _SOCIAL_GRAPH),
        ("mutual friends", (_C.TIES,), ("lake:ties",)),
        (
            "risk exposure",
            (_C.TIES, _C.INTERACTIONS, _C.DEVICES, _C.OUTCOMES),
            (*_SOCIAL_GRAPH, "lake:devices", "db:loan_outcomes"),
        ),
        (
            "community",
            (_C.TIES, _C.INTERACTIONS, _C.OUTCOMES),
            (*_SOCIAL_GRAPH, "db:loan_outcomes"),
        ),
        (
            "neighbours",
            (_C.TIES, _C.INTERACTIONS, _C.PROFILE, _C.INCOME, _C.EXTERNAL_LOANS),
            (*_SOCIAL_GRAPH, "db:persons", "db:external_loans"),
        ),
    )
}
