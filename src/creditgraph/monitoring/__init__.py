"""Real-time monitoring: what happens to a borrower after the decision.

Events flow in, each person's risk state and the credit graph update incrementally, detectors
raise alerts with evidence, and alerts act through the existing services.

What belongs here, by layer:

- Pure (no database, web framework, file I/O, store or settings, not even indirectly):
  ``events`` (the event contract v1 as data), ``validate`` (a batch of dicts to typed events plus
  per-event errors), ``docs`` (the contract rendered as Markdown), ``state`` (per-person rolling
  aggregates and the incremental graph) and ``detectors`` (pure functions of state and event).
- Services: ``door`` (identifiers pseudonymised exactly as ingest does), ``bus`` (the outbox and
  Redis Streams transports) and the alerts and their actions, which run through the decision and
  servicing services.
"""
