"""Reading the encrypted identity table in tests: the lender's ids and fields, decrypted.

Uses the master key this process opened for the database (an ingest opens it), as the product's
own readers do; the plaintext never exists in the database.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from creditgraph.privacy.fieldcrypt import Identity, open_column, read_identity
from creditgraph.privacy.keys import provider_for
from creditgraph.store.db import make_engine
from creditgraph.store.models import PersonKey


def pseudonyms(where: Engine | str) -> dict[str, str]:
    """The lender's id -> pseudonym of every person with a data key."""
    engine = make_engine(where) if isinstance(where, str) else where
    try:
        with engine.connect() as conn:
            if conn.execute(select(PersonKey.person_id).limit(1)).first() is None:
                return {}
            return {
                str(external): person
                for person, external in open_column(conn, provider_for(engine), "external_id")
            }
    finally:
        if isinstance(where, str):
            engine.dispose()


def identity(where: Engine | str, person_id: str) -> Identity:
    engine = make_engine(where) if isinstance(where, str) else where
    try:
        with engine.connect() as conn:
            return read_identity(conn, provider_for(engine), person_id)
    finally:
        if isinstance(where, str):
            engine.dispose()
