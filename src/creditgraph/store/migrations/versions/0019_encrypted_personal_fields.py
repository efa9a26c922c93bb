"""encrypted personal fields: master key check, a data key per person, ciphertext identities

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 20:10:00

``master_keys`` holds the master key's id and check value, so a lost or wrong key file is refused
at start. ``person_keys`` holds each person's data key, wrapped by the master key; deleting it
is crypto-shredding. ``person_identities`` keeps only AES-GCM ciphertext (external id, name,
phone, and the new id number and free-text note), and ``persons``' declared income becomes
ciphertext too. The plaintext columns are removed.

A database that already holds people is refused with a clear message: encrypting needs the
master key, which a schema migration does not hold, and copying the plaintext aside would keep
it in the file. The lender's files are the source of truth and ingest is idempotent, so such a
home is re-ingested into a fresh database. ``event_outbox`` and ``event_dead_letters`` gain an
index on the person, and ``event_outbox`` one on the payload's ``other_person_id`` (an expression
index: the writers are unchanged and old rows are covered), so an erasure reads the person's
events and the events that name them instead of scanning the log.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_PSEUDONYM = sa.String(40)
OTHER_PERSON_INDEX = "ix_event_outbox_other_person"
OTHER_PERSON = {
    "sqlite": "json_extract(payload, '$.other_person_id')",
    "postgresql": "(payload ->> 'other_person_id')",
}
REFUSAL = (
    "migration 0019 encrypts personal fields and cannot do so in place: this database holds "
    "{n} persons in plaintext; ingest the lender's files into a fresh database "
    "(CREDITGRAPH_HOME or CREDITGRAPH_DB_URL) instead"
)


class PlaintextPersonsError(RuntimeError):
    """Existing plaintext people: the migration refuses rather than keep or guess a key."""


def upgrade() -> None:
    bind = op.get_bind()
    people = bind.execute(sa.text("SELECT count(*) FROM persons")).scalar_one()
    if people:
        raise PlaintextPersonsError(REFUSAL.format(n=people))
    op.create_table(
        "master_keys",
        sa.Column("key_id", sa.String(40), primary_key=True),
        sa.Column("check_value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "person_keys",
        sa.Column("person_id", _PSEUDONYM, primary_key=True),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("person_identities") as batch:
        batch.drop_column("external_id")
        batch.drop_column("name")
        batch.drop_column("phone")
    with op.batch_alter_table("person_identities") as batch:
        batch.add_column(sa.Column("external_id", sa.LargeBinary(), nullable=False))
        batch.add_column(sa.Column("name", sa.LargeBinary()))
        batch.add_column(sa.Column("phone", sa.LargeBinary()))
        batch.add_column(sa.Column("id_number", sa.LargeBinary()))
        batch.add_column(sa.Column("note", sa.LargeBinary()))
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("declared_monthly_income_fen")
        batch.add_column(sa.Column("declared_monthly_income_enc", sa.LargeBinary(), nullable=False))
    op.create_index("ix_event_outbox_person_id", "event_outbox", ["person_id"])
    op.create_index("ix_event_dead_letters_person_id", "event_dead_letters", ["person_id"])
    expression = OTHER_PERSON[bind.dialect.name]
    op.execute(f"CREATE INDEX {OTHER_PERSON_INDEX} ON event_outbox ({expression})")


def downgrade() -> None:
    bind = op.get_bind()
    people = bind.execute(sa.text("SELECT count(*) FROM persons")).scalar_one()
    if people:
        raise PlaintextPersonsError(
            f"downgrade below 0019 would need {people} persons' fields in plaintext: refused"
        )
    op.execute(f"DROP INDEX {OTHER_PERSON_INDEX}")
    op.drop_index("ix_event_dead_letters_person_id", "event_dead_letters")
    op.drop_index("ix_event_outbox_person_id", "event_outbox")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("declared_monthly_income_enc")
        batch.add_column(sa.Column("declared_monthly_income_fen", sa.BigInteger(), nullable=False))
    with op.batch_alter_table("person_identities") as batch:
        for column in ("note", "id_number", "phone", "name", "external_id"):
            batch.drop_column(column)
    with op.batch_alter_table("person_identities") as batch:
        batch.add_column(sa.Column("external_id", sa.String(200), nullable=False))
        batch.add_column(sa.Column("name", sa.String(200)))
        batch.add_column(sa.Column("phone", sa.String(40)))
    op.drop_table("person_keys")
    op.drop_table("master_keys")
