"""Features of a person as of a date: relational (Ibis, on DuckDB or Spark) and graph (scipy or Spark).

What belongs here: the credit graph as of a date and every feature computed from it (the
catalogue with each feature's reason, the relational families, graph families, neighbour
aggregates, out-of-fold label seeds), the feature store (offline snapshots and the online table)
and point-in-time training sets. Graph algorithms themselves live in ``creditgraph.graph``.
"""
