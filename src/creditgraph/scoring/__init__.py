"""Credit scoring: scorecards, challengers, explanations, validation and the model registry.

What belongs here, by layer:

- scorecard maths, pure: ``scorecard`` (fitting), ``card`` (the card as values), ``card_codec``
  (its stored JSON form), ``coercion``, ``scorer``, ``reasons``, ``metrics``;
- files and reports: ``card_file``, ``report/`` (the HTML validation report, Jinja2 templates);
- services: ``training`` (the refit lifecycle), ``registry``, ``service`` (batch and online
  scoring), ``challenger``, ``fairness``, ``export``.

Scoring knows nothing of decisions: the decision service and the backtest call into it.
"""
