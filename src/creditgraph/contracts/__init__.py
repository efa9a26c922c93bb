"""Input data contract: table schemas, validation and error reports."""

from creditgraph.contracts.schema import CONTRACT_VERSION, TABLES, TableSpec, table_spec

__all__ = ["CONTRACT_VERSION", "TABLES", "TableSpec", "table_spec"]
