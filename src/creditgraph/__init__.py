"""creditgraph: credit from social-network data, run end to end on one machine.

Layers, each importing only those below it (import-linter contracts in pyproject.toml, checked by
``make lint``; docs/architecture.md draws them):

- interfaces: ``cli``, ``api``, ``demo`` (and the ``console`` presentation they share) translate
  arguments, HTTP and terminal output to service calls, and nothing more;
- services: ``backtest``, ``decision``, ``scoring``, ``servicing``, ``features``, ``ingest``,
  ``simulate``, ``privacy`` load and save around the pure core;
- the pure core inside them (graph algorithms, schedule and posting maths, scorecard maths, the
  decision engine) imports no database, engine, web framework or file I/O;
- beneath: ``store`` (database and lake), ``contracts`` (the input data contract), and the shared
  rules at this root: ``money``, ``canonical`` (hashing), ``idempotency``, ``configmodel`` and
  ``configfile`` (one TOML configuration loader), ``ids``, ``settings``, ``duck``.
"""

__version__ = "0.1.0"
