"""The workspace's pages, one module each; ``ROUTERS`` is the order they are mounted in."""

from __future__ import annotations

from creditgraph.web.pages import (
    activity,
    alerts,
    applicants,
    auth,
    loans,
    models,
    portfolio,
    reviews,
)

ROUTERS = [
    auth.router,
    portfolio.router,
    reviews.router,
    alerts.router,
    applicants.router,
    loans.router,
    models.router,
    activity.router,
]
