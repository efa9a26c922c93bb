"""Credit scoring: scorecards, challengers, explanations and validation."""
