"""Features of a person as of a date: relational (Ibis, on DuckDB or Spark) and graph (scipy or Spark)."""
