"""Input data contract: table schemas, validation and error reports.

What belongs here: the contract as data (``schema``), the compiled validation query that applies
it (``validate``, DuckDB) and its generated documentation (``docs``). Everything that reads
lender files depends on it; it depends on nothing of creditgraph but ``duck``.
"""

from creditgraph.contracts.schema import CONTRACT_VERSION, TABLES, TableSpec, table_spec

__all__ = ["CONTRACT_VERSION", "TABLES", "TableSpec", "table_spec"]
