"""Storage: the OLTP database (SQLAlchemy + Alembic), the Parquet lake and private files.

What belongs here: models and migrations, engine set-up and write transactions, the lake's
layout, the idempotency-key table's statements, and the rule that files holding personal data are
private. It imports no service and no interface.
"""
