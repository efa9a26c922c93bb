"""Decisions: products, policy rules, limits, risk-based pricing, offers, and the service.

What belongs here, by layer:

- the pure decision engine: ``engine``, ``rules``, ``limits``, ``pricing``, ``offers``,
  ``products``, ``config`` (the configuration models), ``context``, ``intake``, ``records``
  (rows and public views) and ``applicant`` — plain values in, a decision out, no database and
  no files;
- configuration files: ``config_files`` loads the packaged TOML or an operator's file;
- the service: ``service`` (the ``DecisionService`` facade), ``lookup`` (applicant reads),
  ``applicant_scorer``, ``record_store`` and ``review_store`` (statements), ``review`` (the human
  review workflow) and ``batch_decisions``.
"""
