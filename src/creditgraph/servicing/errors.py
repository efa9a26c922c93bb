"""Errors of the servicing maths: each says what was wrong, in words a caller can act on."""

from __future__ import annotations


class ScheduleError(ValueError):
    """A schedule request that cannot be honoured: invalid input or an infeasible combination."""


class AllInRateError(ValueError):
    """Cash flows for which no all-in annualised rate exists or can be found."""
