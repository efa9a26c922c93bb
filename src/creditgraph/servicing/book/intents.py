"""Repayment intents' rows: created by the borrower's app, confirmed by a payment channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import RowMapping, select, update
from sqlalchemy.engine import Connection

from creditgraph.servicing import book
from creditgraph.store.models import RepaymentIntent, table_of

INTENTS = table_of(RepaymentIntent)
PENDING, CONFIRMED = "pending", "confirmed"


def insert(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(INTENTS.insert(), dict(values))


def get(conn: Connection, intent_id: str) -> RowMapping | None:
    return conn.execute(select(INTENTS).where(INTENTS.c.id == intent_id)).mappings().first()


def of_loan(conn: Connection, loan_id: str, key_id: int | None = None) -> list[RowMapping]:
    """A loan's intents, oldest first; with ``key_id``, only that API key's."""
    statement = select(INTENTS).where(INTENTS.c.loan_id == loan_id)
    if key_id is not None:
        statement = statement.where(INTENTS.c.created_by_key_id == key_id)
    rows = conn.execute(statement.order_by(INTENTS.c.created_at, INTENTS.c.id)).mappings()
    return list(rows)


def by_reference(conn: Connection, channel: str, reference: str) -> str | None:
    """The intent a channel's reference already confirmed, if any."""
    found = conn.execute(
        select(INTENTS.c.id).where(
            INTENTS.c.channel == channel, INTENTS.c.channel_reference == reference
        )
    ).scalar()
    return None if found is None else str(found)


def confirm(
    conn: Connection,
    intent_id: str,
    channel: str,
    reference: str,
    fen: int,
    transaction_id: str,
) -> bool:
    """Mark a pending intent confirmed by the posting ``transaction_id``; False if it was not
    pending any more (confirmed meanwhile)."""
    done = conn.execute(
        update(INTENTS)
        .where(INTENTS.c.id == intent_id, INTENTS.c.status == PENDING)
        .values(
            status=CONFIRMED,
            channel=channel,
            channel_reference=reference,
            confirmed_amount_fen=fen,
            confirmed_at=book.now(),
            transaction_id=transaction_id,
        )
    )
    return bool(done.rowcount == 1)
