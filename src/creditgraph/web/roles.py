"""Who works in the workspace and what each role may see or do, stated once.

A page or form names a capability, not a list of roles, so the matrix in ``docs/web.md`` and
the authorization tests read from this table.
"""

from __future__ import annotations

from enum import StrEnum


class WebRole(StrEnum):
    OFFICER = "officer"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Can(StrEnum):
    """A capability a page or form needs."""

    VIEW_PORTFOLIO = "view_portfolio"
    VIEW_REVIEWS = "view_reviews"
    DECIDE_REVIEWS = "decide_reviews"
    VIEW_ALERTS = "view_alerts"
    HANDLE_ALERTS = "handle_alerts"
    VIEW_APPLICANT = "view_applicant"
    REVEAL_PROFILE = "reveal_profile"
    VIEW_MODELS = "view_models"
    VIEW_LOANS = "view_loans"
    VIEW_ACTIVITY = "view_activity"


_ALL = frozenset(WebRole)
MATRIX: dict[Can, frozenset[WebRole]] = {
    Can.VIEW_PORTFOLIO: _ALL,
    Can.VIEW_REVIEWS: frozenset({WebRole.OFFICER, WebRole.AUDITOR, WebRole.ADMIN}),
    Can.DECIDE_REVIEWS: frozenset({WebRole.OFFICER, WebRole.ADMIN}),
    Can.VIEW_ALERTS: _ALL,
    Can.HANDLE_ALERTS: frozenset({WebRole.OFFICER, WebRole.ANALYST, WebRole.ADMIN}),
    Can.VIEW_APPLICANT: _ALL,
    # personal data (name, phone, id number, income) is decrypted for those who serve the
    # person; analysts and auditors work on pseudonyms
    Can.REVEAL_PROFILE: frozenset({WebRole.OFFICER, WebRole.ADMIN}),
    Can.VIEW_MODELS: frozenset({WebRole.ANALYST, WebRole.AUDITOR, WebRole.ADMIN}),
    Can.VIEW_LOANS: _ALL,
    Can.VIEW_ACTIVITY: frozenset({WebRole.AUDITOR, WebRole.ADMIN}),
}
"""Capability -> the roles that have it."""


def allows(role: WebRole | str, capability: Can) -> bool:
    return WebRole(role) in MATRIX[capability]


def render_markdown() -> str:
    """The capability matrix as the table in ``docs/web.md`` (``make docs`` writes it)."""
    roles = list(WebRole)
    lines = [
        "| capability | " + " | ".join(r.value for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for capability, allowed in MATRIX.items():
        marks = " | ".join("yes" if r in allowed else "–" for r in roles)
        lines.append(f"| `{capability.value}` | {marks} |")
    return "\n".join(lines) + "\n"
