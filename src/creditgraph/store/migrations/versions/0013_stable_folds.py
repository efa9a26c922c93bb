"""a stored label fold per person, from the lender's own id

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:00:00

Out-of-fold label features used a hash of the pseudonym as the fold, and the pseudonym depends on
a home's secret key, so the same data gave different models in different homes. ``persons.fold``
holds a fold derived from the lender's external id with a fixed public salt (the rule of
``features.labels.stable_fold``, repeated here so this migration never changes); people already
stored get theirs now, new people at the first feature build that sees them.
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SALT = b"creditgraph label fold v1/"
FOLDS = 5


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("fold", sa.Integer(), nullable=True))
    persons = sa.table("persons", sa.column("person_id", sa.String()), sa.column("fold"))
    identities = sa.table(
        "person_identities", sa.column("person_id", sa.String()), sa.column("external_id")
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(identities.c.person_id, identities.c.external_id)).all()
    by_fold: dict[int, list[str]] = {}
    for person_id, external_id in rows:
        digest = hashlib.sha256(SALT + str(external_id).encode()).digest()
        by_fold.setdefault(int.from_bytes(digest[:8], "big") % FOLDS, []).append(person_id)
    for fold, people in by_fold.items():
        for start in range(0, len(people), 500):
            chunk = people[start : start + 500]
            conn.execute(sa.update(persons).where(persons.c.person_id.in_(chunk)).values(fold=fold))


def downgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("fold")
