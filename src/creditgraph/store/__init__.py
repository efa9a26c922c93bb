"""Storage: the OLTP database (SQLAlchemy + Alembic) and the Parquet lake."""
