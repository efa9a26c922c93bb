"""The HTTP API: an interface over the decision and loan services, with API-key auth.

What belongs here: routes that only declare (``routes``, ``loan_routes``, ``payment_routes``),
their request and response models (``schemas/``), what every route shares (``deps``: context,
roles, the Idempotency-Key, body parsing, error mapping), and the HTTP machinery (limits,
lock-out, request ids, access log). No business rule lives here: a route parses, calls one
service method in the threadpool and renders its answer.
"""
