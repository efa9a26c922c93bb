"""Recording the API's reads of a person's personal data in the data access log.

A route that returns a person's personal data (a decision shows the declared income it was made
on) records one row, ``key:<id>`` as actor, in a short transaction of its own after the read: one
insert, so a lookup stays cheap. The person is their pseudonym, never the id the client sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from creditgraph.api.context import ApiContext
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.privacy.access_log import record_access
from creditgraph.store.db import write_transaction

DECIDED_ON = ("profile", "income", "features", "decisions")
"""What a decision reads about the applicant: profile, declared income, features."""


def record_read(ctx: ApiContext, key: KeyInfo, person_id: str, data_classes: Sequence[str]) -> None:
    """The key read ``data_classes`` of the person: the lender's side to review or service a
    case, an applicant app to show the applicant their own assessment."""
    purpose = "credit_assessment" if key.role is Role.APPLICANT_APP else "decision_review"
    with write_transaction(ctx.engine) as conn:
        record_access(conn, f"key:{key.id}", "key", person_id, purpose, data_classes, "read")


def with_decision_read(key: KeyInfo, within: Any) -> Any:
    """A ``within`` hook for a decision's storing transaction: records that the key's
    application read the applicant's data for credit assessment (one insert in that
    transaction), then runs ``within`` (the idempotency key), if any."""

    def hook(conn: Connection, answer: dict[str, Any]) -> None:
        record_access(
            conn, f"key:{key.id}", "key", answer["person_id"], "credit_assessment", DECIDED_ON
        )
        if within is not None:
            within(conn, answer)

    return hook
